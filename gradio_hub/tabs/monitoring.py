"""Monitoring tab: the latest drift report (sandboxed), drift share over time, live request rate and
latency from the API's /metrics, Prometheus alerts and links to the Grafana dashboards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import gradio as gr

from gradio_hub.charts import time_series_svg
from gradio_hub.clients.drift_reports import drift_history, drift_reports
from gradio_hub.common import TabHandles, describe_error, esc, link, notice, table
from gradio_hub.context import HubContext

MAX_EMBED_BYTES = 30 * 1024 * 1024
REFRESH_SECONDS = 5.0


def report_iframe(path: Path) -> str:
    """The report as an escaped `srcdoc` of a sandboxed iframe: its scripts (Evidently draws its
    charts with them) run in an opaque origin and cannot reach the hub page; its HTML is never
    inserted into the hub page itself."""
    size = path.stat().st_size
    if size > MAX_EMBED_BYTES:
        return notice(f"The report {path.name} is {size / 1e6:.0f} MB, too large to embed; open it "
                      f"from {path}.", "warn")
    content = path.read_text(encoding="utf-8", errors="replace")
    when = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<p>Report <code>{esc(path.name)}</code> written {esc(when)}.</p>"
            f'<iframe class="hub-report" title="Drift report" sandbox="allow-scripts" '
            f'referrerpolicy="no-referrer" style="width:100%;height:720px;border:1px solid #ccc;'
            f'border-radius:6px;background:white" srcdoc="{esc(content)}"></iframe>')


def live_summary_html(snap) -> str:
    def ms(value):
        return "n/a" if value is None else f"{value:.1f} ms"
    rows = [["prediction requests since the API started", f"{snap.requests:.0f}"],
            ["items predicted", f"{snap.predictions:.0f}"],
            ["mean latency", ms(snap.mean_latency_ms)],
            ["p50 / p95 / p99 latency (since start)",
             f"{ms(snap.quantile_ms(0.5))} / {ms(snap.quantile_ms(0.95))} / {ms(snap.quantile_ms(0.99))}"],
            ["errors", ", ".join(f"{k}: {v:.0f}" for k, v in sorted(snap.errors.items())) or "none"],
            ["model version served", "none" if not snap.model_version else f"{snap.model_version:.0f}"],
            ["inference-log buffer / dropped rows",
             f"{'n/a' if snap.log_buffer is None else f'{snap.log_buffer:.0f}'} / {snap.log_dropped:.0f}"]]
    return table(["API metric", "value"], rows)


def build(ctx: HubContext) -> TabHandles:
    gr.Markdown("Is production still seeing the data the model was trained on, and how is the API doing?")
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="monitoring-refresh")
    gr.Markdown("### Live traffic (from the API's /metrics, refreshed every few seconds while this tab is open)")
    live_msg = gr.HTML(elem_id="monitoring-live")
    with gr.Row():
        rate_plot = gr.HTML(elem_id="monitoring-rate")
        latency_plot = gr.HTML(elem_id="monitoring-latency")
    gr.Markdown("### Drift")
    drift_msg = gr.HTML(elem_id="monitoring-drift-summary")
    drift_plot = gr.BarPlot(x="time", y="drifted share", color="drift", y_lim=[0, 1], height=260,
                            title="Drifted share of signals, one bar per report (number, UTC time)",
                            color_map={"detected": "#d9534f", "not detected": "#5cb85c"},
                            elem_id="monitoring-drift-plot")
    report_choice = gr.Dropdown(label="Report", choices=[], elem_id="monitoring-report-choice")
    report = gr.HTML(elem_id="monitoring-report")
    gr.Markdown("### Alerts and dashboards")
    alerts = gr.HTML(elem_id="monitoring-alerts")
    dashboards = gr.HTML(elem_id="monitoring-dashboards")
    timer = gr.Timer(REFRESH_SECONDS, active=False)

    def live():
        try:
            snap = ctx.metrics_history.sample(ctx.api.metrics_text)
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), gr.skip(), gr.skip()
        series = ctx.metrics_history.series()
        rate = series[series["metric"] == "requests/s"]
        latency = series[series["metric"] != "requests/s"]
        note = ""
        if series.empty:
            note = notice("Rates appear after two samples (a few seconds with this tab open).", "info")
        span = None if series.empty else (float(series["time"].min()), float(series["time"].max()))
        return (live_summary_html(snap) + note,
                time_series_svg(rate, title="Request rate", unit="requests/s", elem_class="hub-rate-chart",
                                span=span),
                time_series_svg(latency, title="Latency", unit="ms", elem_class="hub-latency-chart",
                                span=span))

    def drift():
        try:
            history = drift_history(ctx.settings, ctx.store)
            reports = drift_reports(ctx.settings, ctx.store)
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), None, gr.update(choices=[]), ""
        if history.empty and not reports:
            return (notice("No drift report yet: materialise the drift_report asset in Dagster (it "
                           "compares the recent inference log with the champion's training data).",
                           "info"), None, gr.update(choices=[], value=None), "")
        if not history.empty:
            latest = history.iloc[-1]
            text = (f"Latest report ({latest['time']:%Y-%m-%d %H:%M} UTC): drift {latest['drift']}, "
                    f"drifted share {latest['drifted share']:.2f}, {latest['rows compared']} rows of "
                    f"traffic compared; {len(history)} report(s) so far.")
            kind = "warn" if latest["drift"] == "detected" else "ok"
        else:
            text, kind = "The reports have no summary to chart.", "info"
        if not history.empty:  # labels, not a time axis: one evenly spaced bar per report
            labels = [f"#{i + 1:02d} {t:%m-%d %H:%M}" for i, t in enumerate(history["time"])]
            history = history.assign(time=labels)
        names = list(reports)
        first = report_iframe(reports[names[0]]) if names else notice("The report files are gone.", "warn")
        return notice(text, kind), history, gr.update(choices=names, value=names[0] if names else None), first

    def show_report(name):
        if not name:
            return ""
        path = drift_reports(ctx.settings, ctx.store).get(str(name))
        if path is None:
            return notice(f"No report called {name}.", "warn")
        return report_iframe(path)

    def alerts_and_links():
        if not ctx.prometheus.configured:
            alert_html = notice("No Prometheus configured (RAKUTEN_PROMETHEUS_URL).", "info")
        else:
            try:
                found = ctx.prometheus.alerts()
                alert_html = (notice("Prometheus: no active alerts.", "ok") if not found else
                              table(["alert", "state", "severity", "summary", "since"],
                                    [[a["alert"], a["state"], a["severity"], a["summary"], a["since"]]
                                     for a in found]))
            except Exception as exc:  # noqa: BLE001
                alert_html = notice(describe_error(exc), "warn")
        if not ctx.grafana.configured:
            return alert_html, notice("No Grafana configured (RAKUTEN_GRAFANA_URL).", "info")
        try:
            ctx.grafana.health()
            boards = ctx.grafana.dashboards()
        except Exception as exc:  # noqa: BLE001
            return alert_html, notice(describe_error(exc), "warn")
        items = "".join(f"<li>{link(url, title)}</li>" for title, url in boards) or \
            f"<li>{link(ctx.grafana.base_url + '/dashboards', 'All dashboards')}</li>"
        return alert_html, f"<p>Grafana dashboards:</p><ul>{items}</ul>"

    def refresh():
        return (*live(), *drift(), *alerts_and_links())

    outputs = [live_msg, rate_plot, latency_plot, drift_msg, drift_plot, report_choice, report,
               alerts, dashboards]
    refresh_btn.click(refresh, outputs=outputs, api_visibility="private")
    report_choice.input(show_report, [report_choice], [report], api_visibility="private")
    timer.tick(live, outputs=[live_msg, rate_plot, latency_plot], show_progress="hidden",
               api_visibility="private")
    return TabHandles(refresh, [], outputs, timer=timer)
