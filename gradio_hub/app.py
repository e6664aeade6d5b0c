"""The Rakuten control hub: one Gradio page to see and drive the whole system.

`build_hub(settings)` returns the Blocks (tests and embedding use it); `launch(host, port,
root_path)` serves it (`rakuten hub`, `make run`). The hub is a client: it reaches the API,
Dagster, MLflow, the database, Prometheus and Grafana through the small client modules of this
package, each with a timeout, and every tab says which service is unreachable and how to start
it instead of failing.

Concurrency: Gradio runs one event of a kind at a time unless told otherwise, which would make
every visitor wait for the others; reads and predictions run `RAKUTEN_HUB_CONCURRENCY` at a time
(8 by default: they are I/O-bound calls to other services), while control actions (ingest,
materialise, promote, roll back) share one `control` slot so they never race each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from gradio_hub.auth import gate_routes
from gradio_hub.common import HUB_CSS, esc, notice
from gradio_hub.context import HubContext
from gradio_hub.tabs import dataset as tab_dataset
from gradio_hub.tabs import infrastructure as tab_infrastructure
from gradio_hub.tabs import monitoring as tab_monitoring
from gradio_hub.tabs import overview as tab_overview
from gradio_hub.tabs import predict as tab_predict
from gradio_hub.tabs import review as tab_review
from gradio_hub.tabs import training as tab_training
from rakuten_assets.core.settings import Settings, get_settings

log = logging.getLogger("gradio_hub")
TITLE = "Rakuten control hub"
MB = 1024 * 1024  # Gradio's "mb" in max_file_size


def _auth_status(ctx: HubContext, user: str | None) -> str:
    if not ctx.gate.enabled:
        return notice("Control actions are open to everyone on this hub (set RAKUTEN_HUB_USERS to "
                      "require a login).", "info")
    if user:
        return notice(f"Signed in as {user}: control actions are enabled.", "ok")
    return notice("Viewing is open; control actions (ingest, materialise, promote, roll back) need "
                  "you to sign in.", "info")


_SIGN_IN_JS = """async (user, password) => {
  const base = window.location.pathname.replace(/[^/]*$/, '');
  try {
    const r = await fetch(base + 'hub-auth/sign-in', {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({user, password})});
    const answer = await r.json();
    return [user, answer.message || ''];
  } catch (e) {
    return [user, 'The sign-in request failed: ' + e];
  }
}"""
_SIGN_OUT_JS = """async () => {
  const base = window.location.pathname.replace(/[^/]*$/, '');
  await fetch(base + 'hub-auth/sign-out', {method: 'POST', credentials: 'same-origin'});
  return [];
}"""


def _warm_up(ctx: HubContext) -> None:
    for probe in (ctx.store.ping, ctx.registry.ping):
        try:
            probe()
        except Exception:  # noqa: BLE001 - the Overview reports it properly
            pass


def _timer_on():
    return gr.Timer(active=True)


def _timer_off():
    return gr.Timer(active=False)


def build_hub(settings: Settings | None = None) -> gr.Blocks:
    settings = settings or get_settings()
    ctx = HubContext(settings)

    # Uploads need no login (Gradio's /gradio_api/upload has no hook for one), so they are capped
    # (launch_options) and deleted once old: issue 13 found 50 MB uploads kept for ever.
    delete_cache = (settings.hub_upload_sweep_seconds, settings.hub_upload_max_age_seconds)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=delete_cache) as demo:
        # Who is signed in, for display only: control handlers check the request's cookie.
        session_user = gr.State(None)
        gr.Markdown(f"# {TITLE}\nData, training, serving and monitoring of the "
                    f"`{esc(settings.model_name)}` product classifier, in one place.")
        auth_html = gr.HTML(_auth_status(ctx, None), elem_id="hub-auth-status")
        if ctx.gate.enabled:
            with gr.Accordion("Sign in", open=False, elem_id="hub-sign-in"):
                with gr.Row():
                    username = gr.Textbox(label="User", elem_id="hub-username", scale=2)
                    password = gr.Textbox(label="Password", type="password", elem_id="hub-password", scale=2)
                    sign_in = gr.Button("Sign in", variant="primary", elem_id="hub-sign-in-button", scale=1)
                    sign_out = gr.Button("Sign out", elem_id="hub-sign-out-button", scale=1)

            # The password goes from the browser to the hub's own sign-in route (gradio_hub/auth.py),
            # which sets the signed HttpOnly cookie; the Gradio event after it only reads that
            # cookie to say who is signed in, and never sees the password.
            def after_sign_in(name: str, message: str, request: gr.Request):
                user = ctx.gate.user_of(request)
                if user:
                    return user, _auth_status(ctx, user), ""
                return None, notice(message or "Wrong user or password.", "error"), ""

            def after_sign_out(request: gr.Request):
                return None, _auth_status(ctx, None)

            for trigger in (sign_in.click, password.submit):
                trigger(after_sign_in, [username, password], [session_user, auth_html, password],
                        js=_SIGN_IN_JS, api_visibility="private")
            sign_out.click(after_sign_out, outputs=[session_user, auth_html], js=_SIGN_OUT_JS,
                           api_visibility="private")

            def on_load(request: gr.Request):
                user = ctx.gate.user_of(request)
                return user, _auth_status(ctx, user)

            demo.load(on_load, outputs=[session_user, auth_html], api_visibility="private")

        with gr.Tabs(elem_id="hub-tabs"):
            with gr.Tab("Overview", id="overview", elem_id="tab-overview") as overview_tab:
                overview = tab_overview.build(ctx)
            with gr.Tab("Predict", id="predict", elem_id="tab-predict") as predict_tab:
                predict = tab_predict.build(ctx)
            with gr.Tab("Review", id="review", elem_id="tab-review") as review_tab:
                review = tab_review.build(ctx, session_user)
            with gr.Tab("Dataset", id="dataset", elem_id="tab-dataset") as dataset_tab:
                dataset = tab_dataset.build(ctx, session_user)
            with gr.Tab("Training", id="training", elem_id="tab-training") as training_tab:
                training = tab_training.build(ctx, session_user)
            with gr.Tab("Monitoring", id="monitoring", elem_id="tab-monitoring") as monitoring_tab:
                monitoring = tab_monitoring.build(ctx)
            with gr.Tab("Infrastructure", id="infrastructure", elem_id="tab-infrastructure") as infra_tab:
                infrastructure = tab_infrastructure.build(ctx, session_user)

        # Each tab loads when it is opened, so the first page shows after the Overview's probes
        # alone; the Monitoring tab's live timer runs only while that tab is open.
        demo.load(overview.refresh, overview.inputs, overview.outputs, api_visibility="private")
        timer = monitoring.timer
        for tab, handles in ((overview_tab, overview), (predict_tab, predict), (review_tab, review),
                             (dataset_tab, dataset),
                             (training_tab, training), (monitoring_tab, monitoring),
                             (infra_tab, infrastructure)):
            tab.select(handles.refresh, handles.inputs, handles.outputs, api_visibility="private")
            tab.select(_timer_on if tab is monitoring_tab else _timer_off, outputs=[timer],
                       api_visibility="private", show_progress="hidden")

    # Import MLflow and open the stores now, in the background, rather than on the first visit.
    threading.Thread(target=_warm_up, args=(ctx,), name="hub-warm-up", daemon=True).start()
    # api_open=False: no direct POST /gradio_api/run/<name> (it runs any handler by fn_index,
    # private ones included: issue 13); events go through the queue, as the page sends them.
    demo.queue(default_concurrency_limit=settings.hub_concurrency, max_size=256, api_open=False)
    demo.hub_context = ctx  # for tests and embedding
    return demo


def _quiet_clients(settings: Settings) -> None:
    """Bound the libraries' own waits: a down MLflow server or PostgreSQL must not hang a tab."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(5, settings.hub_timeout_seconds * 3))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(int(max(2, settings.hub_timeout_seconds))))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


# Room for the multipart boundaries and part headers around the one file an upload may carry.
_MULTIPART_OVERHEAD = 64 * 1024


class UploadCap:
    """Refuses (413) a multipart request whose body may exceed the upload cap, before reading it.

    Gradio's max_file_size holds per file, and one /gradio_api/upload may carry 1,000 files, so
    without this a request of many files each under the cap stored as much as it liked. The
    body's length is the Content-Length the server reads to (a longer body is not read as this
    request's), so one without it (chunked) is refused too (411): browsers always send it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.limit = app, max_bytes + _MULTIPART_OVERHEAD

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = dict(scope["headers"])
            if headers.get(b"content-type", b"").lower().startswith(b"multipart/"):
                length = headers.get(b"content-length", b"")
                status = 411 if not length.isdigit() else 413 if int(length) > self.limit else 0
                if status:
                    from starlette.responses import PlainTextResponse

                    message = (f"Uploads are limited to {self.limit - _MULTIPART_OVERHEAD} bytes per "
                               "request." if status == 413 else "Uploads need a Content-Length.")
                    await PlainTextResponse(message, status)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def sweep_abandoned_uploads(folder: str | Path, max_age_s: float) -> list[Path]:
    """Deletes Gradio's part-written upload files older than `max_age_s` (by mtime, which each
    write renews, so an upload still arriving is kept); returns them.

    An upload whose client goes away mid-body leaves its temporary file at the top of the upload
    folder, outside the set delete_cache empties (finished uploads are moved into per-hash
    folders and tracked): a client could fill the disk cap-sized file by cap-sized file."""
    deleted = []
    now = time.time()
    for path in Path(folder).glob("tmp*"):
        with contextlib.suppress(OSError):  # gone meanwhile, or moved by its finished upload
            if path.is_file() and now - path.stat().st_mtime > max_age_s:
                path.unlink()
                deleted.append(path)
    return deleted


def _abandoned_upload_sweeper(settings: Settings):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def sweep():
            while True:
                await asyncio.sleep(settings.hub_upload_sweep_seconds)
                await asyncio.to_thread(sweep_abandoned_uploads, app.uploaded_file_dir,
                                        settings.hub_upload_max_age_seconds)

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


def launch_options(settings: Settings, ctx: HubContext, root_path: str | None) -> dict:
    return {"root_path": root_path if root_path is not None else settings.hub_root_path,
                "auth": ctx.gate.gradio_auth(),
                "auth_message": "Rakuten control hub: sign in with a RAKUTEN_HUB_USERS login.",
                "show_error": False, "max_threads": 40, "ssr_mode": False,
                "max_file_size": f"{settings.hub_max_upload_mb}mb",
                "footer_links": ["gradio"], "enable_monitoring": False, "css": HUB_CSS,
                # The sign-in routes, ahead of Gradio's own (FastAPI(routes=...)).
                "app_kwargs": {"routes": gate_routes(ctx.gate),
                               "lifespan": _abandoned_upload_sweeper(settings),
                               "middleware": [Middleware(UploadCap, max_bytes=settings.hub_max_upload_mb * MB)]}}


def launch(host: str, port: int, root_path: str | None = None, *, block: bool = True) -> gr.Blocks:
    """Serve the hub at http://host:port (behind a proxy: under `root_path`, e.g. `/hub`)."""
    settings = get_settings()
    _quiet_clients(settings)
    demo = build_hub(settings)
    ctx: HubContext = demo.hub_context
    options = launch_options(settings, ctx, root_path)
    log.info("hub on http://%s:%s%s (API %s, Dagster %s, login %s)", host, port, options["root_path"] or "",
             ctx.api.base_url, ctx.dagster.base_url,
             "for the whole hub" if ctx.gate.protect_all else "for control actions" if ctx.gate.enabled else "off")
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=False, **options)
    return demo


if __name__ == "__main__":  # `python -m gradio_hub.app [port]`
    import sys

    logging.basicConfig(level=logging.INFO)
    s = get_settings()
    launch(s.hub_host, int(sys.argv[1]) if len(sys.argv) > 1 else s.hub_port)
