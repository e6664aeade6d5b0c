"""Overview tab: the system drawn with each part's live health, the health of every service in
words, the champion model and links to the other UIs (marked when their service is down)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import gradio as gr

from gradio_hub.common import (
    Health,
    ServiceError,
    ServiceUnavailable,
    TabHandles,
    badge,
    describe_error,
    esc,
    link,
    notice,
    table,
)
from gradio_hub.context import HubContext
from gradio_hub.diagram import Node, system_svg

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hub-probe")


def _probe(service: str, fn, *, url: str | None, hint: str, optional: bool = False) -> Health:
    try:
        return Health(service, True, fn(), url, "", optional)
    except ServiceUnavailable as exc:
        return Health(service, False, f"unreachable ({exc.reason})", url, exc.hint, optional)
    except ServiceError as exc:
        return Health(service, False, exc.message, url, hint, optional)
    except Exception as exc:  # noqa: BLE001 - a probe never breaks the page
        return Health(service, False, describe_error(exc), url, hint, optional)


def probes(ctx: HubContext, dagster_seen: dict | None = None) -> list[Health]:
    """Every service, probed in parallel: the slowest one bounds the page, not their sum.
    `dagster_seen` receives the Dagster health (webserver, code location, daemon apart)."""
    s = ctx.settings
    dagster_seen = {} if dagster_seen is None else dagster_seen

    def api() -> str:
        ctx.api.health()
        ready, body = ctx.api.ready()
        if ready:
            return f"ready, serving {s.model_name} v{body.get('model_version', '?')}"
        raise ServiceError("API", f"up but not ready: {body.get('reason') or body.get('detail') or 'no model loaded'}")

    def dagster() -> str:
        health = ctx.dagster.health()
        dagster_seen["health"] = health
        if not health.location_loaded:
            raise ServiceError("Dagster", f"webserver up (dagster {health.version}) but {health.location_problem}")
        text = f"dagster {health.version}, code location 'rakuten' loaded"
        if health.daemons_healthy is False:
            text += f"; WARNING: {health.daemon_problem}"
        elif health.daemons_healthy:
            text += ", daemon running"
        return text

    def mlflow_ui() -> str:
        return "UI answering: " + ctx.mlflow_ui.health()

    def docker() -> str:
        found = ctx.docker.containers()
        running = [c for c in found if c.state == "running"]
        names = ", ".join(f"{c.label} ({c.health or c.state})" for c in found[:16]) or "no containers"
        unhealthy = [c.label for c in found if c.health == "unhealthy"]
        text = f"{len(running)}/{len(found)} containers running: {names}"
        if unhealthy:
            text += f"; WARNING: unhealthy: {', '.join(unhealthy)}"
        return text

    jobs = [
        ("API", api, {"url": ctx.api.docs_url, "hint": ctx.api.hint}),
        ("Dagster", dagster, {"url": ctx.dagster.base_url, "hint": ctx.dagster.hint}),
        ("MLflow", ctx.registry.ping, {"url": None, "hint": ""}),
        ("Database", ctx.store.ping, {"url": None, "hint": ""}),
    ]
    if ctx.mlflow_ui.configured:
        jobs.append(("MLflow UI", mlflow_ui, {"url": ctx.mlflow_ui.base_url, "hint": ctx.mlflow_ui.hint,
                                                  "optional": True}))
    if ctx.prometheus.configured:
        jobs.append(("Prometheus", lambda: ctx.prometheus.health(),
                     {"url": ctx.prometheus.base_url, "hint": ctx.prometheus.hint, "optional": True}))
    if ctx.grafana.configured:
        jobs.append(("Grafana", lambda: ctx.grafana.health(),
                     {"url": ctx.grafana.base_url, "hint": ctx.grafana.hint, "optional": True}))
    if ctx.docker.configured:
        jobs.append(("Docker", docker, {"url": None, "hint": "start the Docker engine", "optional": True}))
    futures = [(name, _pool.submit(_probe, name, fn, **kw)) for name, fn, kw in jobs]
    out = []
    for name, future in futures:
        try:
            out.append(future.result(timeout=ctx.settings.hub_timeout_seconds * 3 + 2))
        except Exception as exc:  # noqa: BLE001 - a probe that hangs past every timeout
            out.append(Health(name, False, f"no answer ({type(exc).__name__})", None, ""))
    return out


def health_html(rows: list[Health]) -> str:
    body = []
    for h in rows:
        kind = "ok" if h.ok and "WARNING" not in h.detail else ("warn" if h.ok or h.optional else "error")
        state = badge("up" if h.ok else h.state, kind)
        detail = esc(h.detail)
        if not h.ok and h.hint:
            detail += f"<br><small>How to start it: {esc(h.hint)}</small>"
        body.append([esc(h.service), state, detail, link(h.url, h.url) if h.url else ""])
    down = [h.service for h in rows if not h.ok and not h.optional]
    summary = (notice("All core services are up.", "ok") if not down else
               notice(f"Unreachable or unhealthy: {', '.join(down)}. The tabs that need them say so "
                      "and keep working for the rest.", "warn"))
    return summary + table(["service", "state", "details", "address"], body, raw_columns={0, 1, 2, 3})


def _state(h: Health | None) -> str:
    if h is None:
        return "off"  # not configured
    if h.ok:
        return "warn" if "WARNING" in h.detail else "up"
    return "off" if h.optional and "unreachable" in h.detail else "down"


def system_nodes(ctx: HubContext, rows: list[Health], dagster_seen: dict) -> list[Node]:
    """One box per part of the system, from the probes: Dagster's webserver, code location and
    daemon each get their own state from the one Dagster health answer."""
    by = {h.service: h for h in rows}
    s = ctx.settings
    nodes = [Node("hub", "up", "serving this page")]
    api = by.get("API")
    nodes.append(Node("api", _state(api), api.detail if api else "", ctx.api.docs_url))
    web = by.get("Dagster")
    health = dagster_seen.get("health")
    dagster = ctx.dagster.base_url
    if health is None:  # the webserver did not answer: the rest of Dagster cannot be seen
        detail = web.detail if web else "not checked"
        nodes += [Node("dagster_web", "down", detail, dagster),
                  Node("dagster_code", "unknown", "unknown while the webserver is down", dagster),
                  Node("dagster_daemon", "unknown", "unknown while the webserver is down", dagster)]
    else:
        nodes.append(Node("dagster_web", "up", f"dagster {health.version}", dagster))
        nodes.append(Node("dagster_code", "up" if health.location_loaded else "down",
                          "code location 'rakuten' loaded" if health.location_loaded
                          else health.location_problem or "", f"{dagster}/locations"))
        daemon = {True: "up", False: "down", None: "unknown"}[health.daemons_healthy]
        nodes.append(Node("dagster_daemon", daemon, health.daemon_problem or
                          ("daemon running" if health.daemons_healthy else "the instance does not say"),
                          f"{dagster}/health"))
    mlflow, mlflow_ui = by.get("MLflow"), by.get("MLflow UI")
    state = _state(mlflow)
    detail = f"tracking {s.tracking_uri}: " + (mlflow.detail if mlflow else "not checked")
    if state == "up" and mlflow_ui is not None and not mlflow_ui.ok:
        detail += f"; the MLflow UI is not running ({mlflow_ui.detail})"
    ui_url = ctx.mlflow_ui.model_url(s.model_name) if mlflow_ui is not None and mlflow_ui.ok else None
    nodes.append(Node("mlflow", state, detail, ui_url))
    db = by.get("Database")
    nodes.append(Node("database", _state(db), db.detail if db else "", None))
    for key, name in (("prometheus", "Prometheus"), ("grafana", "Grafana")):
        h = by.get(name)
        nodes.append(Node(key, _state(h), h.detail if h else f"not configured (RAKUTEN_{name.upper()}_URL)",
                          h.url if h is not None and h.ok else None))
    return nodes


def champion_html(ctx: HubContext) -> str:
    try:
        champ = ctx.registry.champion()
    except Exception as exc:  # noqa: BLE001
        return notice(describe_error(exc), "error")
    s = ctx.settings
    if champ is None:
        return notice(f"No {s.model_name}@{s.champion_alias} yet: run the pipeline (`make run` does it "
                      "on a fresh install, or launch all_assets_job from the Training tab).", "warn")
    m = champ.metrics

    def f(key: str) -> str:
        return f"{m[key]:.4f}" if key in m else "n/a"

    rows = [["weighted F1 (test)", f("test_weighted_f1")], ["macro F1 (test)", f("test_macro_f1")],
            ["accuracy (test)", f("test_accuracy")],
            ["dataset version", champ.tags.get("dataset_version", "n/a")],
            ["promotion reason", champ.tags.get("promotion_reason", "n/a")],
            ["registered", champ.created], ["MLflow run", champ.run_id or "n/a"]]
    head = (f'<div style="font-size:1.3em;font-weight:700">{esc(champ.name)}@{esc(champ.alias)} '
            f'= version {esc(champ.version)}</div>')
    return head + table(None, rows)


def links_html(ctx: HubContext, rows: list[Health] | None = None) -> str:
    """Links to the other UIs; one whose service did not answer the last check says so."""
    s = ctx.settings
    by = {h.service: h for h in rows or []}
    items = [("Dagster UI (assets, runs, sensors)", ctx.dagster.base_url, "Dagster"),
             ("MLflow UI (runs, registered models)", ctx.mlflow_ui.model_url(s.model_name), "MLflow UI"),
             ("Grafana dashboards", ctx.grafana.base_url, "Grafana"),
             ("API docs (OpenAPI)", ctx.api.docs_url, "API"),
             ("Prometheus", ctx.prometheus.base_url, "Prometheus")]
    lis = []
    for text, url, service in items:
        if not url:
            lis.append(f"<li>{esc(text)}: not configured</li>")
            continue
        h = by.get(service)
        # The API answers its docs even when not ready; the link is down only when it is unreachable.
        down = h is not None and not h.ok and (service != "API" or "unreachable" in h.detail)
        if down:
            lis.append(f'<li class="hub-link-down">{link(url, text)} '
                       f'{badge("down: " + h.detail, "error")}</li>')
        else:
            lis.append(f'<li class="hub-link-up">{link(url, text)}</li>')
    return f'<ul class="hub-links">{"".join(lis)}</ul>'


def build(ctx: HubContext) -> TabHandles:
    gr.Markdown("Health of every part of the system, the model in production and where to look next.")
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="overview-refresh")
    gr.Markdown("### The system (each box coloured by its live health; click one to open its UI)")
    system = gr.HTML(notice("Checking services…"), elem_id="overview-system")
    with gr.Row():
        with gr.Column(scale=3):
            gr.Markdown("### Services")
            health = gr.HTML(notice("Checking services…"), elem_id="overview-health")
        with gr.Column(scale=2):
            gr.Markdown("### Champion model")
            champion = gr.HTML(elem_id="overview-champion")
            gr.Markdown("### Links")
            links = gr.HTML(links_html(ctx), elem_id="overview-links")

    def refresh():
        champ = _pool.submit(champion_html, ctx)
        seen: dict = {}
        rows = probes(ctx, seen)
        return (system_svg(system_nodes(ctx, rows, seen)), health_html(rows), champ.result(),
                links_html(ctx, rows))

    outputs = [system, health, champion, links]
    refresh_btn.click(refresh, outputs=outputs, api_visibility="private")
    return TabHandles(refresh, [], outputs)
