"""Small inline SVG charts drawn on the server (the Monitoring tab's live rate and latency).

Why not the plot components: they placed the samples at even steps (14:00:18, 14:01:00,
14:02:44 one step apart), hiding the gaps when the tab was closed or the API down. Here x is
the sample's real time: a gap is as wide as it lasted, and the line is broken across it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from gradio_hub.common import esc

PALETTE = ("#3b73b9", "#d9822b", "#2e8b57", "#b3261e")
W, H = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 28, 30
GAP_FACTOR = 3.0  # a step this many times the usual one is a gap: the line breaks there


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5, 10):
        for power in range(-3, 7):
            top = step * 10 ** power
            if top >= value:
                return top
    return value


def time_series_svg(frame: pd.DataFrame | None, *, title: str, unit: str, elem_class: str,
                    span: tuple[float, float] | None = None) -> str:
    """`frame`: columns time (epoch seconds), metric, value. One line per metric. `span`: the
    time range of the x axis (charts side by side share one), else the frame's own."""
    head = f'<div class="{esc(elem_class)}"><div style="font-weight:600">{esc(title)}</div>'
    if frame is None or frame.empty:
        return head + '<div class="hub-chart-empty" style="opacity:0.7">No samples yet.</div></div>'
    t0, t1 = span or (float(frame["time"].min()), float(frame["time"].max()))
    width = max(t1 - t0, 1.0)
    top = _nice_max(float(frame["value"].max()) * 1.05)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / width * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / top * plot_h

    steps = frame["time"].drop_duplicates().sort_values().diff().dropna()
    usual = float(steps.median()) if not steps.empty else width
    parts = [f'<svg class="hub-chart" viewBox="0 0 {W} {H}" width="100%" style="max-width:{W}px;'
             f'font-family:sans-serif" data-t0="{t0:.3f}" data-t1="{t1:.3f}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):  # horizontal grid with values
        v = top * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#555">{v:g}</text>')
    shown = set()
    for i in range(4):  # time ticks at their real positions
        t = t0 + width * i / 3
        label = datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")
        if label in shown:  # a range of a second or two: one label is enough
            continue
        shown.add(label)
        anchor = "start" if i == 0 else "end" if i == 3 else "middle"
        parts.append(f'<text class="hub-chart-tick" x="{x(t):.1f}" y="{H - 10}" font-size="11" '
                     f'text-anchor="{anchor}" fill="#555">{label}</text>')
    parts.append(f'<text x="{W - RIGHT}" y="14" font-size="11" text-anchor="end" fill="#555">'
                 f'{esc(unit)}, UTC time</text>')
    legend_x = LEFT
    for n, (metric, rows) in enumerate(frame.groupby("metric", sort=False)):
        color = PALETTE[n % len(PALETTE)]
        rows = rows.sort_values("time")
        segments, current, last = [], [], None
        for t, v in zip(rows["time"], rows["value"]):
            if last is not None and t - last > GAP_FACTOR * usual:
                segments.append(current)
                current = []
            current.append((float(t), float(v)))
            last = t
        segments.append(current)
        for segment in segments:
            if len(segment) > 1:
                points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in segment)
                parts.append(f'<polyline class="hub-chart-line" points="{points}" fill="none" '
                             f'stroke="{color}" stroke-width="2"/>')
        for t, v in zip(rows["time"], rows["value"]):
            when = datetime.fromtimestamp(float(t), tz=UTC).strftime("%H:%M:%S")
            parts.append(f'<circle class="hub-chart-point" data-metric="{esc(metric)}" data-t="{float(t):.3f}" '
                         f'cx="{x(float(t)):.1f}" cy="{y(float(v)):.1f}" r="2.5" fill="{color}">'
                         f'<title>{esc(metric)} {float(v):g} at {when} UTC</title></circle>')
        parts.append(f'<text x="{legend_x}" y="14" font-size="11" fill="{color}">■ {esc(metric)}</text>')
        legend_x += 12 + 7 * len(str(metric))
    parts.append("</svg></div>")
    return head + "".join(parts)
