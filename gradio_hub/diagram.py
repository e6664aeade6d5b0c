"""The system drawn for the Overview: one inline SVG, built on the server from the health checks.

Each service is a box coloured by its live state and linked to its own UI; the lines are the
paths data and requests take between them. Inline SVG rather than an image or a diagram library:
no external asset to fetch (the hub runs offline), every word in it is escaped like the rest of
the page, and a test can read each box's state from its `data-state` attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradio_hub.common import esc

# state -> (stroke, fill, word shown under the name)
STATES = {
    "up": ("#1e7b34", "#e8f5e9", "up"),
    "warn": ("#8a6d00", "#fff8e1", "warning"),
    "down": ("#b3261e", "#fdecea", "down"),
    "off": ("#6b6b6b", "#f0f0f0", "not running"),
    "unknown": ("#6b6b6b", "#f0f0f0", "unknown"),
}

BOX_W, BOX_H = 176, 58
COLUMNS = (16, 250, 484, 718)
ROW_STEP, TOP = 120, 18
WIDTH, HEIGHT = COLUMNS[-1] + BOX_W + 16, TOP + 2 * ROW_STEP + BOX_H + 30

# key -> (label, column, row). The hub on the left, what it drives in the middle, the stores right.
LAYOUT = {
    "hub": ("Hub (this page)", 0, 1),
    "api": ("API", 1, 0),
    "prometheus": ("Prometheus", 2, 0),
    "grafana": ("Grafana", 3, 0),
    "dagster_web": ("Dagster webserver", 1, 1),
    "dagster_code": ("Dagster code", 2, 1.5),
    "mlflow": ("MLflow", 3, 1),
    "dagster_daemon": ("Dagster daemon", 1, 2),
    "database": ("Database", 3, 2),
}

# (from, to, what travels, waypoints): requests go from the first to the second. A path whose
# straight line would cross another box goes round it through the gaps between rows/columns.
PATHS = [
    ("hub", "api", "predict, metrics", None),
    ("hub", "dagster_web", "launch runs (GraphQL)", None),
    ("hub", "mlflow", "versions, alias", [(104, 138), (104, 107), (700, 107), (700, 160), (716, 160)]),
    ("hub", "database", "read the store", [(104, 196), (104, 330), (806, 330), (806, 318)]),
    ("grafana", "prometheus", "queries", None),
    ("prometheus", "api", "scrape /metrics", None),
    ("api", "mlflow", "load the champion", None),
    ("api", "database", "inference log", [(426, 62), (455, 62), (455, 292), (716, 292)]),
    ("dagster_web", "dagster_code", "gRPC", None),
    ("dagster_daemon", "dagster_code", "runs, sensors", None),
    ("dagster_code", "mlflow", "log, register", None),
    ("dagster_code", "database", "ingest, read", None),
]


@dataclass
class Node:
    key: str
    state: str  # a key of STATES
    detail: str = ""
    url: str | None = None


def _top_left(key: str) -> tuple[float, float]:
    _, col, row = LAYOUT[key]
    return COLUMNS[col], TOP + row * ROW_STEP


def _centre(key: str) -> tuple[float, float]:
    x, y = _top_left(key)
    return x + BOX_W / 2, y + BOX_H / 2


def _edge_point(key: str, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box's centre toward `toward` leaves the box."""
    cx, cy = _centre(key)
    dx, dy = toward[0] - cx, toward[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(BOX_W / 2 / abs(dx) if dx else float("inf"), BOX_H / 2 / abs(dy) if dy else float("inf"))
    return cx + dx * scale, cy + dy * scale


def system_svg(nodes: list[Node]) -> str:
    """The diagram; boxes missing from `nodes` are drawn as unknown."""
    by_key = {n.key: n for n in nodes}
    parts = [f'<svg class="hub-system" role="img" aria-label="The system and the health of each part" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" style="max-width:{WIDTH}px;'
             'font-family:sans-serif" xmlns="http://www.w3.org/2000/svg">',
             '<defs><marker id="hub-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8c8c8c"/>'
             '</marker></defs>']
    for source, target, what, waypoints in PATHS:
        if waypoints:
            points = waypoints
        else:
            a, b = _centre(source), _centre(target)
            points = [_edge_point(source, b), _edge_point(target, a)]
        # A path to or from a service that is down is drawn dashed: that road is cut.
        broken = any(by_key.get(k) is not None and by_key[k].state == "down" for k in (source, target))
        dash = ' stroke-dasharray="5 4"' if broken else ""
        d = "M" + " L".join(f"{x:.0f},{y:.0f}" for x, y in points)
        parts.append(f'<path class="hub-path" data-from="{source}" data-to="{target}" d="{d}" fill="none" '
                     f'stroke="#8c8c8c" stroke-width="1.5"{dash} marker-end="url(#hub-arrow)">'
                     f'<title>{esc(what)}</title></path>')
    for key, (label, _col, _row) in LAYOUT.items():
        node = by_key.get(key) or Node(key, "unknown", "not checked")
        stroke, fill, word = STATES.get(node.state, STATES["unknown"])
        x, y = _top_left(key)
        box = (f'<g class="hub-node" data-service="{key}" data-state="{esc(node.state)}">'
               f'<title>{esc(label)}: {esc(word)}. {esc(node.detail)}</title>'
               f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
               f'stroke="{stroke}" stroke-width="2.5"/>'
               f'<text x="{x + BOX_W / 2:.0f}" y="{y + 24:.0f}" text-anchor="middle" font-size="15" '
               f'font-weight="600" fill="#1f1f1f">{esc(label)}</text>'
               f'<text x="{x + BOX_W / 2:.0f}" y="{y + 44:.0f}" text-anchor="middle" font-size="13" '
               f'fill="{stroke}">{esc(word)}{" ↗" if node.url else ""}</text></g>')
        if node.url:
            box = (f'<a href="{esc(node.url)}" target="_blank" rel="noopener noreferrer" '
                   f'style="text-decoration:none">{box}</a>')
        parts.append(box)
    parts.append("</svg>")
    return "".join(parts)
