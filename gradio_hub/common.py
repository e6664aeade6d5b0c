"""What every part of the hub shares: where the services are, how to say one is down, and HTML
helpers that escape everything they are given.

The hub is a client of the rest of the system. Each client module raises `ServiceUnavailable`
when it cannot reach its service (with what to run to start it) and `ServiceError` when the
service answered with an error; tabs turn both into a sentence instead of a traceback.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rakuten_assets.core.redact import public_text
from rakuten_assets.core.settings import Settings

log = logging.getLogger("gradio_hub")


# --- where things are ----------------------------------------------------------------------------
def _clean(url: str | None) -> str | None:
    url = (url or "").strip()
    return url.rstrip("/") or None


def api_url(settings: Settings) -> str:
    return _clean(settings.api_url) or f"http://{settings.api_host}:{settings.api_port}"


def dagster_url(settings: Settings) -> str:
    return _clean(settings.dagster_url) or f"http://{settings.api_host}:{settings.dagster_port}"


def mlflow_ui_url(settings: Settings) -> str | None:
    return _clean(settings.mlflow_ui_url)


def prometheus_url(settings: Settings) -> str | None:
    return _clean(settings.prometheus_url)


def grafana_url(settings: Settings) -> str | None:
    return _clean(settings.grafana_url)


def start_hint(service: str, settings: Settings) -> str:
    """What a user runs to bring `service` up, in words."""
    from urllib.parse import urlparse

    api = urlparse(api_url(settings))
    hints = {
        "API": (f"start it with `make run` (the whole stack) or `rakuten api --host "
                f"{api.hostname or settings.api_host} --port {api.port or settings.api_port}`; the hub "
                f"looks for it at {api_url(settings)} (RAKUTEN_API_URL)"),
        "Dagster": ("start it with `make run`, or `dagster-webserver -w workspace.yaml -p "
                    f"{settings.dagster_port}` and `dagster-daemon run -w workspace.yaml`; the hub "
                    f"looks for it at {dagster_url(settings)} (RAKUTEN_DAGSTER_URL)"),
        "MLflow": (f"check MLFLOW_TRACKING_URI (now {settings.tracking_uri}); the embedded default "
                   "is a SQLite file and needs no server"),
        "MLflow UI": (f"start it with `mlflow ui --backend-store-uri {settings.tracking_uri} --port "
                      "5000` (RAKUTEN_MLFLOW_UI_URL says where the hub looks)"),
        "Database": ("check RAKUTEN_DATABASE_URL; the embedded default is a SQLite file in "
                     "RAKUTEN_HOME and needs no server"),
        "Prometheus": ("start it with `prometheus --config.file=monitoring/prometheus.yml`; the hub "
                       f"looks for it at {prometheus_url(settings)} (RAKUTEN_PROMETHEUS_URL)"),
        "Grafana": ("start Grafana with the provisioning in `grafana/provisioning`; the hub looks "
                    f"for it at {grafana_url(settings)} (RAKUTEN_GRAFANA_URL)"),
        "Docker": "start the Docker engine, or ignore this line when not using containers",
    }
    return hints.get(service, f"start {service}")


def scratch_dir(max_age_s: float = 86_400) -> Path:
    """The hub's own temporary folder (batch results, downloaded confusion matrices); files older
    than a day are removed whenever it is asked for, so it does not grow without bound."""
    folder = Path(tempfile.gettempdir()) / "rakuten-hub"
    folder.mkdir(exist_ok=True)
    now = time.time()
    for path in folder.glob("**/*"):
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age_s:
                path.unlink()
        except OSError:
            pass
    return folder


# Characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """A text cell that a spreadsheet would run as a formula, prefixed with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(frame, path: Path) -> Path:
    """A CSV for people to open in a spreadsheet: text cells that would start a formula are
    neutralised; numbers are written as numbers."""
    import pandas as pd

    safe = frame.copy()
    for column in safe.columns:
        # object or the string dtypes (pandas 3 reads text as `str`): any may hold text.
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_cell)
    safe.to_csv(path, index=False)
    return path


# --- errors ----------------------------------------------------------------------------------------
class ServiceUnavailable(Exception):
    """A service could not be reached at all."""

    def __init__(self, service: str, url: str | None, reason: str, hint: str = ""):
        super().__init__(f"{service} unreachable at {url}: {reason}")
        self.service, self.url, self.reason, self.hint = service, url, reason, hint

    def user_message(self) -> str:
        where = f" at {self.url}" if self.url else ""
        text = f"{self.service} is unreachable{where} ({self.reason})."
        if self.hint:
            text += f" To fix it: {self.hint}."
        return text


class ServiceError(Exception):
    """A service answered, but with an error the user should read."""

    def __init__(self, service: str, message: str, status: int | None = None):
        super().__init__(f"{service}: {message}")
        self.service, self.message, self.status = service, message, status

    def user_message(self) -> str:
        return f"{self.service} answered with an error: {self.message}"


def describe_error(exc: BaseException) -> str:
    """A sentence for any exception; unexpected ones are logged with their traceback."""
    if isinstance(exc, (ServiceUnavailable, ServiceError)):
        return exc.user_message()
    log.exception("unexpected error in the hub", exc_info=exc)
    # The log has the whole text; the page gets it without paths or URLs (issue 13).
    return f"Something went wrong: {type(exc).__name__}: {public_text(str(exc))}"


def reason_of(exc: BaseException) -> str:
    """Short reason for a transport error: 'connection refused', 'timed out after 3 s'..."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text:
            return "unknown host name"
        return "cannot connect"
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


# --- HTML built from escaped parts only -------------------------------------------------------------
_BREAK = re.compile(r"<\s*(br|/p|/li|/div|/h[1-6]|/tr)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\s*\n\s*")


def html_to_text(value: object) -> str:
    """Catalogue HTML as the text a reader sees: entities decoded (twice: the catalogue holds
    double-escaped text such as `&amp;eacute;`), line-breaking tags as new lines, every other tag
    dropped. The result is still shown as text, never rendered: a `&lt;script&gt;` in the data
    becomes a dropped tag, not markup."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = html.unescape(html.unescape(str(value)))
    text = _TAG.sub(" ", _BREAK.sub("\n", text))
    return _LINES.sub("\n", _BLANKS.sub(" ", text)).strip()


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def link(url: str | None, text: str) -> str:
    if not url:
        return esc(text)
    return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{esc(text)}</a>'


_NOTICE_STYLES = {
    "info": "background:#eef5ff;border-color:#9cc1f0;color:#1d3b66",
    "ok": "background:#edf9f0;border-color:#8fd19e;color:#1e5631",
    "warn": "background:#fff8e6;border-color:#f0c36d;color:#6b4b00",
    "error": "background:#fdeeee;border-color:#f09a9a;color:#7a1c1c",
}


def notice(text: str, kind: str = "info") -> str:
    """A boxed message; `kind` is info, ok, warn or error. The text is escaped."""
    style = _NOTICE_STYLES.get(kind, _NOTICE_STYLES["info"])
    return (f'<div class="hub-notice hub-{kind}" role="status" style="padding:0.6em 0.9em;'
            f'border-radius:6px;margin:0.3em 0;border:1px solid;{style}">{esc(text)}</div>')


def error_notice(exc: BaseException) -> str:
    return notice(describe_error(exc), "error")


# One table style for the whole hub: the HTML tables below and Gradio's DataFrames (through
# HUB_CSS, given to `launch`) share the font size, header colour and rules between rows.
TABLE_FONT = "14px"
TABLE_HEAD_BG = "rgb(241, 244, 248)"
TABLE_RULE = "1px solid rgb(221, 225, 230)"
_CELL = f"border-bottom:{TABLE_RULE};padding:0.3em 0.5em;text-align:left;vertical-align:top"
_HEAD = f"{_CELL};background:{TABLE_HEAD_BG};font-weight:600"
HUB_CSS = f"""
.hub-table, .gradio-container .table-wrap table {{ font-size: {TABLE_FONT} !important; }}
.gradio-container .table-wrap th {{ background: {TABLE_HEAD_BG} !important; font-weight: 600 !important; }}
.gradio-container .table-wrap th, .gradio-container .table-wrap th *,
.gradio-container .body-cell, .gradio-container .body-cell * {{
  font-family: var(--font) !important; font-size: {TABLE_FONT} !important; }}
.gradio-container .table-wrap th, .gradio-container .body-cell {{ border-bottom: {TABLE_RULE} !important; }}
/* Product text keeps the line breaks of its HTML (`html_to_text` turns <br> into new lines). */
#dataset-sample .body-cell, #dataset-sample .body-cell * {{ white-space: pre-line !important; }}
"""


def table(headers: list[str] | None, rows: list[list[object]], raw_columns: set[int] = frozenset()) -> str:
    """A small HTML table (no header row when `headers` is None); every cell is escaped except the
    ones in `raw_columns`, which the caller built with `esc`/`link` itself."""
    head = "".join(f'<th style="{_HEAD}">{esc(h)}</th>' for h in headers or [])
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{cell if i in raw_columns else esc(cell)}</td>'
                         for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return (f'<table class="hub-table" style="border-collapse:collapse;width:100%;font-size:{TABLE_FONT}">'
            + (f"<thead><tr>{head}</tr></thead>" if headers else "") + f"<tbody>{body}</tbody></table>")


def badge(text: str, kind: str) -> str:
    """Coloured status word: ok, error or warn."""
    color = {"ok": "#1e7b34", "error": "#b3261e", "warn": "#8a6d00"}.get(kind, "inherit")
    return f'<span class="hub-{kind}-badge" style="color:{color};font-weight:600">{esc(text)}</span>'


@dataclass
class Health:
    """One line of the Overview: is a service up, what it says, and how to start it."""

    service: str
    ok: bool
    detail: str
    url: str | None = None
    hint: str = ""
    optional: bool = False  # down is normal for it (Prometheus, Grafana, Docker in the embedded default)

    @property
    def state(self) -> str:
        if self.ok:
            return "up"
        return "not running" if self.optional else "DOWN"


@dataclass
class TabHandles:
    """How the app refreshes a tab when it is opened: `refresh(*inputs) -> outputs`."""

    refresh: Callable
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    timer: object | None = None  # a gr.Timer to run only while the tab is open
