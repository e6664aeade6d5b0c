"""The hub in a real browser (Playwright driving Debian's Chromium) against a real local stack:
API in uvicorn, Dagster webserver + daemon, MLflow and the product store on SQLite.

Screenshots of every tab go to test-artifacts/hub/ (not committed); the ones docs/hub.md shows
have the names they have in docs/images/, where scripts/refresh-hub-screenshots.sh copies them. Outside CI the module skips when /usr/bin/chromium is missing; in CI it
fails instead.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.hub import (
    artifact_dir,
    choose,
    chromium_browser,
    fill,
    hub_page,
    hub_stack,
    launch_hub,
    open_tab,
    require_chromium,
    text_of,
    wait_for,
    wait_text,
    write_drift_report,
    write_real_drift_report,
)

require_chromium()

TAB_TIMEOUT_MS = 30_000
FEEDBACK_TOKEN = "hub-feedback-token"
XSS = '<b>bold</b><img src=x onerror="window.__hub_xss = 1">'


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_browser")
    with hub_stack(root, dagster=True, daemon=True, second_version=True, meanwhile=drift_reports,
                   RAKUTEN_PROMOTION_MARGIN="1.0", RAKUTEN_FEEDBACK_TOKEN=FEEDBACK_TOKEN) as live:
        demo, url = launch_hub(live.hub_settings())
        live.hub_url = url
        live.demo = demo
        try:
            yield live
        finally:
            demo.close()


def drift_reports(settings) -> None:
    """Two small hand-written reports (the older one's script tries to reach the hub page), then
    a real Evidently report, the latest."""
    from rakuten_assets.core.store import ProductStore

    store = ProductStore(settings.db_url)
    now = datetime.now(UTC)
    for i, (share, detected) in enumerate([(0.0, False), (0.75, True)]):
        stamp = f"2026010{i + 1}T000000Z"
        write_drift_report(settings, share=share, detected=detected, stamp=stamp,
                           created_at=(now - timedelta(hours=2 - i)).isoformat())
        store.record_drift(status="drift" if detected else "ok", drift_detected=detected,
                           drifted_share=share, rows_reference=2000, rows_current=400, model_version="1",
                           html_path=str(settings.reports_dir / f"drift_report_{stamp}.html"),
                           summary={"drifted_share": share})
        time.sleep(0.05)  # distinct times, in this order
    store.dispose()
    write_real_drift_report(settings)


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    with hub_page(browser, TAB_TIMEOUT_MS) as page:
        yield page


def open_hub(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator("#overview-health table").wait_for()
    return time.perf_counter() - started


def shot(page, file_name: str) -> None:
    """The whole page; the ones docs/hub.md shows have docs/images' file names
    (scripts/refresh-hub-screenshots.sh copies them there)."""
    page.screenshot(path=str(artifact_dir() / file_name), full_page=True)


# --- tests ----------------------------------------------------------------------------------------
def test_every_tab_renders_with_the_stack_up(stack, page):
    seconds = open_hub(page, stack.hub_url)
    print(f"hub first page with the Overview's health checks: {seconds:.2f} s")
    health = text_of(page, "overview-health")
    for service in ("API", "Dagster", "MLflow", "Database"):
        assert service in health
    assert "ready, serving rakuten_classifier v1" in health
    assert "code location 'rakuten' loaded" in health
    assert "All core services are up." in health
    assert "version 1" in text_of(page, "overview-champion")
    assert "Dagster UI" in text_of(page, "overview-links")
    shot(page, "hub-overview.png")

    open_tab(page, "Predict")
    page.locator("#predict-button").wait_for()
    page.locator("#predict-history").wait_for()
    shot(page, "hub-predict.png")

    open_tab(page, "Dataset")
    wait_text(page, "dataset-summary", "1500 products in 1 load batches")
    page.locator("#dataset-sample [data-testid='cell-0-0']").wait_for()
    assert "synthetic:seed=42:rows=3000" in text_of(page, "dataset-batches")
    shot(page, "hub-dataset.png")

    open_tab(page, "Training")
    wait_text(page, "training-versions", "champion")
    assert "rakuten_classifier@champion is version 1" in text_of(page, "champion-now")
    shot(page, "hub-training.png")

    open_tab(page, "Monitoring")
    wait_text(page, "monitoring-live", "prediction requests since the API started")
    summary = wait_text(page, "monitoring-drift-summary", "3 report(s) so far")
    assert "drift detected" in summary  # the latest, real report: shifted traffic
    frame = page.locator("#monitoring-report iframe")
    frame.wait_for()
    assert frame.get_attribute("sandbox") == "allow-scripts"
    # The real Evidently report draws itself with its own scripts, inside the sandbox.
    report = page.frame_locator("#monitoring-report iframe")
    report.get_by_text("Dataset Drift", exact=True).first.wait_for()
    shot(page, "hub-monitoring-start.png")
    frame.scroll_into_view_if_needed()
    page.wait_for_timeout(3000)  # the report paints once it is on screen
    page.screenshot(path=str(artifact_dir() / "hub-monitoring-report.png"))
    # An older report whose script tries to reach the hub page: it runs, and is stopped.
    choose(page, "monitoring-report-choice", "drift_report_20260101T000000Z.html")
    report.locator("#drift-title").wait_for()
    assert "20260101" in report.locator("#drift-title").inner_text()
    report.locator("body[data-blocked='yes']").wait_for(state="attached")
    assert page.title() != "pwned"
    assert not page.hub_errors, page.hub_errors


def test_materialisation_launched_from_the_hub_runs_in_dagster_and_the_hub_shows_it(stack, page):
    """RAKUTEN_PROMOTION_MARGIN=1 keeps the run from moving the alias under the other tests."""
    from gradio_hub.clients.dagster import DagsterClient
    from rakuten_assets.core.registry import ModelRegistry

    registry = ModelRegistry(stack.settings)
    champion = str(registry.champion().version)
    dagster = DagsterClient(stack.settings, base_url=stack.dagster.url, timeout=10)
    before = {r.run_id for r in dagster.runs(50)}
    open_hub(page, stack.hub_url)
    open_tab(page, "Training")
    page.locator("#launch-button").click()
    page.locator("#launch-status .hub-run-status").wait_for()
    new = [r for r in dagster.runs(50) if r.run_id not in before]
    assert len(new) == 1 and new[0].job == "training_job"
    run_id = new[0].run_id
    assert run_id[:8] in text_of(page, "launch-status")
    assert page.locator("#launch-status a").first.get_attribute("href") == f"{stack.dagster.url}/runs/{run_id}"
    # Followed without a reload: the daemon dequeues it and the status line moves on to the end.
    page.locator("#launch-status .hub-run-status[data-status='SUCCESS']").wait_for(timeout=300_000)
    assert dagster.run_status(run_id) == "SUCCESS"
    wait_text(page, "dagster-runs", run_id)
    # The run registered a new version; the margin kept it from becoming champion.
    newest = str(max(int(v.version) for v in registry.versions()))
    wait_text(page, "training-versions", "rejected")
    assert str(registry.champion().version) == champion
    # The pipeline logged its confusion matrix: the tab shows it.
    choose(page, "cm-version", newest)
    page.locator("#cm-image img").wait_for()
    shot(page, "hub-training-run.png")
    # Offered for promotion at once, without pressing Refresh.
    choose(page, "promote-version", newest)


def test_prediction_round_trip_shows_category_and_probabilities(stack, page):
    open_hub(page, stack.hub_url)
    open_tab(page, "Predict")
    fill(page, "predict-designation", "Piscine tubulaire ronde 3,66 x 0,76 m avec pompe de filtration")
    fill(page, "predict-description", XSS)
    page.locator("#predict-button").click()
    result = page.locator("#predict-result .hub-predicted-category")
    result.wait_for()
    category = result.inner_text().strip()
    assert category and not category.startswith("Unknown")
    rows = page.locator("#predict-result table tbody tr")
    assert rows.count() == 5
    percentages = [float(rows.nth(i).locator("td").nth(2).inner_text().rstrip("%")) for i in range(5)]
    assert percentages == sorted(percentages, reverse=True) and 0 < sum(percentages) <= 100.5
    assert "model v1" in text_of(page, "predict-result")
    assert page.locator("#predict-chart .hub-bar").count() == 5

    # The description went through as text: stored and shown escaped, never executed.
    def logged() -> bool:  # the API writes its log every half second: refresh until it is there
        page.locator("#history-refresh").click()
        try:
            wait_text(page, "predict-history", "<b>bold</b>", 3000)
            return True
        except PlaywrightTimeout:
            return False

    wait_for(logged, 60, 0.5, "the prediction in the hub's history")
    assert page.evaluate("window.__hub_xss") is None
    assert page.locator("#predict-history b").count() == 0
    shot(page, "hub-predict-result.png")


def test_batch_prediction_of_an_official_format_csv(stack, page, tmp_path):
    import pandas as pd

    upload = tmp_path / "X_test_small.csv"
    pd.DataFrame({"designation": ["Jeu PS4 FIFA 19", "", "Coussin décoratif en coton 45x45",
                                  "Harry Potter à l'école des sorciers"],
                  "description": ["", "no title here", "<p>Housse <b>lavable</b></p>", "Roman jeunesse"],
                  "productid": [1, 2, 3, 4], "imageid": [10, 20, 30, 40]},
                 index=[84916, 84917, 84918, 84919]).to_csv(upload)  # unnamed index column
    open_hub(page, stack.hub_url)
    open_tab(page, "Predict")
    page.locator("#batch-upload input[type=file]").set_input_files(str(upload))
    wait_text(page, "batch-upload", "X_test_small")  # the name, once uploaded
    page.locator("#batch-button").click()
    message = page.locator("#batch-message .hub-notice").first  # then a known-words warning, if any
    message.wait_for()
    text = message.inner_text()
    assert "Predicted 3 of 4 rows" in text and "1 empty designation" in text
    page.locator("#batch-download a").first.wait_for()
    preview = text_of(page, "batch-preview")
    assert "84918" in preview and "<p>Housse <b>lavable</b></p>" in preview

    # The traffic so far, live in the Monitoring tab: totals at once, rates from the next sample.
    open_tab(page, "Monitoring")
    wait_text(page, "monitoring-live", "p50 / p95 / p99 latency")
    page.wait_for_function("() => !document.getElementById('monitoring-live').innerText.includes("
                           "'Rates appear after')", timeout=30_000, polling=500)
    assert "ms" in text_of(page, "monitoring-live")
    shot(page, "hub-monitoring.png")


def test_dataset_tab_shows_html_as_text_and_ingests_through_dagster(stack, page):
    from gradio_hub.clients.dagster import DagsterClient
    from gradio_hub.clients.store import StoreReader

    counts = StoreReader(stack.settings).counts()
    dagster = DagsterClient(stack.settings, base_url=stack.dagster.url, timeout=10)
    before = {r.run_id for r in dagster.runs(50)}
    open_hub(page, stack.hub_url)
    open_tab(page, "Dataset")
    wait_text(page, "dataset-summary", f"{counts['products']} products in {counts['batches']} load batches")
    sample = page.locator("#dataset-sample")
    sample.locator("[data-testid='cell-0-0']").wait_for()
    text = sample.inner_text()
    assert "<p>" not in text and "&amp;" not in text, "HTML descriptions show as decoded text"
    assert sample.locator("td p, td br, td b, [role=gridcell] p, [role=gridcell] b").count() == 0
    page.locator("#ingest-next").click()
    wait_text(page, "ingest-message", "Ingested batch", 180_000)
    grown = counts["products"] + 300
    wait_text(page, "dataset-summary", f"{grown} products in {counts['batches'] + 1} load batches")
    assert str(grown) in text_of(page, "ingest-message")
    # The write went through Dagster: one ingest_job run, in the asset's history.
    new = [r for r in dagster.runs(50) if r.run_id not in before]
    assert [r.job for r in new] == ["ingest_job"] and new[0].status == "SUCCESS"
    assert new[0].run_id[:8] in text_of(page, "ingest-message")
    assert dagster.materializations(new[0].run_id)["products"]["total_products"] == grown


def test_promotion_and_rollback_move_the_alias_and_are_recorded(stack, page):
    """v2 promoted over v1, then the older v1 over the newer champion v2: Roll back must return to
    v2, the champion before the latest move (not the newest version older than the champion,
    which there is none of)."""
    from rakuten_assets.core.registry import (
        PROMOTION_REASON_TAG,
        PROMOTION_TAG,
        ModelRegistry,
    )

    registry = ModelRegistry(stack.settings)
    assert str(registry.champion().version) == "1"
    # The rule's decisions, as the pipeline writes them (the stack registered both by hand): people
    # may overrule them by moving the alias, never rewrite them.
    for version, decision in (("1", "promoted"), ("2", "rejected")):
        registry.client.set_model_version_tag(registry.name, version, PROMOTION_TAG, decision)
        registry.client.set_model_version_tag(registry.name, version, PROMOTION_REASON_TAG,
                                              f"the rule: {decision} in the browser test")
    tags_before = {v: dict(registry.version(v).tags) for v in ("1", "2")}
    open_hub(page, stack.hub_url)
    open_tab(page, "Training")
    wait_text(page, "training-versions", "champion")

    def promote(target: str, current: str, reason: str, screenshot: str | None = None) -> None:
        choose(page, "promote-version", target)
        fill(page, "promote-reason", reason)
        page.locator("#promote-button").click()
        wait_text(page, "confirm-text", f"Promote version {target}?")
        assert str(registry.champion().version) == current, "nothing may change before the confirmation"
        if screenshot:
            shot(page, screenshot)
        page.locator("#confirm-button").click()
        wait_text(page, "alias-message", f"moved from version {current} to version {target}")
        assert str(registry.champion().version) == target
        wait_text(page, "champion-now", f"is version {target}")
        moves = wait_text(page, "training-moves", reason)
        assert "person" in moves and "anyone" in moves

    def newest_move() -> list[str]:  # from, to, by what: the moves table, newest first
        return [page.locator(f"#training-moves [data-testid='cell-0-{col}']").inner_text().strip()
                for col in (1, 2, 3)]

    promote("2", "1", "browser test: the newer one", "hub-training-confirm.png")
    promote("1", "2", "browser test: back to the older one")
    assert newest_move() == ["2", "1", "person"]

    page.locator("#rollback-button").click()
    wait_text(page, "confirm-text", "Roll back to version 2?")
    assert str(registry.champion().version) == "1", "nothing may change before the confirmation"
    page.locator("#confirm-button").click()
    wait_text(page, "alias-message", "moved from version 1 to version 2")
    assert str(registry.champion().version) == "2"
    wait_text(page, "champion-now", "is version 2")
    wait_text(page, "training-moves", "roll back")
    assert newest_move() == ["1", "2", "roll back"]
    # Three moves, none of them the rule's: each version's own decision is as the rule left it.
    assert {v: dict(registry.version(v).tags) for v in ("1", "2")} == tags_before
    assert registry.version("2").tags[PROMOTION_TAG] == "rejected"  # champion by people, not by the rule


def test_control_actions_need_a_login_when_users_are_configured(stack, page):
    demo, url = launch_hub(stack.hub_settings(hub_users="alice:wonder land"))
    try:
        open_hub(page, url)
        assert "control actions" in text_of(page, "hub-auth-status")
        from rakuten_assets.core.registry import ModelRegistry

        champion = str(ModelRegistry(stack.settings).champion().version)
        other = next(v for v in stack.versions if v != champion)
        open_tab(page, "Training")
        wait_text(page, "training-versions", "champion")
        choose(page, "promote-version", other)
        page.locator("#promote-button").click()
        wait_text(page, "alias-message", "Sign in first")
        assert not page.locator("#confirm-button").is_visible()

        page.locator("#hub-sign-in").get_by_text("Sign in").first.click()
        fill(page, "hub-username", "alice")
        fill(page, "hub-password", "wrong")
        page.locator("#hub-sign-in-button").click()
        wait_text(page, "hub-auth-status", "Wrong user or password")
        fill(page, "hub-password", "wonder land")
        page.locator("#hub-sign-in-button").click()
        wait_text(page, "hub-auth-status", "Signed in as alice")
        page.locator("#promote-button").click()
        wait_text(page, "confirm-text", f"Promote version {other}?")
        page.locator("#cancel-button").click()
        wait_text(page, "alias-message", "Cancelled: nothing changed")
        assert str(ModelRegistry(stack.settings).champion().version) == champion
    finally:
        demo.close()


def test_hub_behind_a_reverse_proxy_on_a_sub_path(stack, page):
    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from tests.support.services import free_port

    demo, upstream = launch_hub(stack.hub_settings(), root_path="/hub")
    client = httpx.AsyncClient(base_url=upstream, timeout=None)

    async def forward(request):
        path = request.url.path[len("/hub"):] or "/"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        headers["x-forwarded-host"] = request.headers["host"]  # as nginx's usual proxy_set_header
        upstream_request = client.build_request(request.method, path, params=request.query_params,
                                                headers=headers, content=await request.body())
        response = await client.send(upstream_request, stream=True)
        drop = {"content-length", "transfer-encoding", "connection"}  # raw bytes: keep their encoding
        return StreamingResponse(response.aiter_raw(), status_code=response.status_code,
                                 headers={k: v for k, v in response.headers.items() if k.lower() not in drop},
                                 background=None)

    proxy = Starlette(routes=[Route("/hub{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 30, 0.1, "the proxy")
        open_hub(page, f"http://127.0.0.1:{port}/hub/")
        open_tab(page, "Predict")
        fill(page, "predict-designation", "Lot de 3 figurines Pokémon Pikachu")
        page.locator("#predict-button").click()
        page.locator("#predict-result .hub-predicted-category").wait_for()
    finally:
        server.should_exit = True
        thread.join(10)
        demo.close()


def test_with_the_api_stopped_the_predict_tab_says_so(stack, page):
    stack.api.stop()
    try:
        _api_down_is_said(stack, page)
    finally:
        stack.api.start()
        stack.api.wait_ready()  # the tests after this one need it


def _api_down_is_said(stack, page):
    open_hub(page, stack.hub_url)
    assert "DOWN" in text_of(page, "overview-health")
    open_tab(page, "Predict")
    fill(page, "predict-designation", "Jeu PS4 FIFA 19")
    page.locator("#predict-button").click()
    message = page.locator("#predict-result .hub-notice")
    message.wait_for()
    text = message.inner_text()
    assert "API is unreachable" in text and "connection refused" in text
    assert "rakuten api" in text and "make run" in text
    assert "Traceback" not in page.content()
    shot(page, "hub-api-down.png")
    open_tab(page, "Monitoring")
    wait_text(page, "monitoring-live", "API is unreachable")
    assert not page.hub_errors, page.hub_errors


def test_control_actions_run_one_at_a_time_and_predictions_side_by_side(stack, browser, monkeypatch):
    """Two people press "Ingest" at the same moment: the second waits for the first. Three
    people press "Predict": they are served together (RAKUTEN_HUB_CONCURRENCY)."""
    import threading

    from gradio_hub.ingest import IngestOutcome
    from gradio_hub.tabs import dataset as dataset_tab

    running = {"ingest": 0, "predict": 0}
    peak = {"ingest": 0, "predict": 0}
    lock = threading.Lock()

    def occupy(kind: str, seconds: float):
        with lock:
            running[kind] += 1
            peak[kind] = max(peak[kind], running[kind])
        time.sleep(seconds)
        with lock:
            running[kind] -= 1

    def slow_ingest(dagster, settings, **kw):
        occupy("ingest", 2.0)
        return IngestOutcome(run=None, ok=True, message="Ingested batch test.")

    monkeypatch.setattr(dataset_tab, "ingest", slow_ingest)
    demo, url = launch_hub(stack.hub_settings(hub_concurrency=5))
    answer = {"prediction_id": "x", "prdtypecode": 10, "category": "Books", "confidence": 0.9,
              "top_k": [{"prdtypecode": 10, "category": "Books", "probability": 0.9}], "model_version": "1"}

    def slow_predict(designation, description):
        occupy("predict", 2.0)
        return answer

    demo.hub_context.api.predict = slow_predict
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.set_default_timeout(TAB_TIMEOUT_MS)
            open_hub(page, url)
        for page in pages[:2]:
            open_tab(page, "Dataset")
        for page in pages[:2]:
            page.locator("#ingest-next").click()
        for page in pages[:2]:
            wait_text(page, "ingest-message", "Ingested batch test.", 60_000)
        for page in pages:
            open_tab(page, "Predict")
            fill(page, "predict-designation", "Jeu PS4")
        for page in pages:
            page.locator("#predict-button").click()
        for page in pages:
            page.locator("#predict-result .hub-predicted-category").wait_for()
    finally:
        for context in contexts:
            context.close()
        demo.close()
    assert peak["ingest"] == 1, "two control actions ran at once"
    assert peak["predict"] >= 2, "predictions waited for each other"


def test_review_queue_labels_from_the_keyboard_through_the_feedback_path(stack, page, tmp_path):
    """The least known traffic first; a typed code (Enter) or a typed word saves a label through
    the API's /feedback; an ambiguous word saves nothing; labels go out and come in as CSV."""
    import httpx

    from rakuten_assets.core.feedback import labels_frame, open_labelling_request
    from rakuten_assets.core.store import ProductStore

    store = ProductStore(stack.settings.db_url)
    open_labelling_request(store, window_start=datetime.now(UTC) - timedelta(minutes=5),
                           window_end=datetime.now(UTC), labels_needed=50, drift_report_id=None,
                           model_version="1", note="drift (oov_share, language) in a browser test")
    items = [{"designation": "東京タワー 記念 グッズ"}, {"designation": "Piscine tubulaire ronde 3 m"},
             {"designation": "Coussin décoratif coton 45x45"}, {"designation": "Jeu PS4 FIFA 19"}]
    answers = httpx.post(stack.api.url + "/predict/batch", json={"items": items}).json()["predictions"]
    ids = [a["prediction_id"] for a in answers]
    wait_for(lambda: {*ids} <= set(store.read_inference_log(last_rows=500)["prediction_id"]), 30, 0.3,
             "the predictions in the log")

    open_hub(page, stack.hub_url)
    open_tab(page, "Review")
    wait_text(page, "review-requests", "Labelling request")
    assert "0 of 50 labels" in text_of(page, "review-requests")
    # The Japanese title: nothing the model knows, so it comes first.
    wait_text(page, "review-item", "東京タワー")
    assert "knew 0% of the words" in text_of(page, "review-item")
    shot(page, "hub-review.png")
    fill(page, "review-typed", "2705")  # a code and Enter: saved, the next item shows
    page.locator("#review-typed textarea, #review-typed input").first.press("Enter")
    wait_text(page, "review-message", "Saved 2705")
    labels = labels_frame(store).set_index("prediction_id")
    assert labels.loc[ids[0], "prdtypecode"] == 2705 and labels.loc[ids[0], "source"] == "api"
    assert "東京タワー" not in text_of(page, "review-item")

    fill(page, "review-typed", "jeu")  # several categories hold the word: nothing is saved
    page.locator("#review-typed textarea, #review-typed input").first.press("Enter")
    wait_text(page, "review-message", "matches several categories")
    assert len(labels_frame(store)) == 1
    fill(page, "review-typed", "piscine spa")  # one category: saved
    page.locator("#review-typed textarea, #review-typed input").first.press("Enter")
    wait_text(page, "review-message", "Saved 2583")
    page.locator("#review-right").click()  # the model's own answer, confirmed
    wait_for(lambda: len(labels_frame(store)) == 3, 30, 0.3, "the confirmed label")
    wait_text(page, "review-requests", "3 of 50 labels")

    page.locator("#review-export").click()
    link = page.locator("#review-export-file a").first
    link.wait_for()
    exported = httpx.get(link.get_attribute("href"), timeout=10).text
    assert exported.splitlines()[0].startswith("prediction_id,prdtypecode") and ids[0] in exported

    upload = tmp_path / "labels.csv"
    upload.write_text("prediction_id,prdtypecode\n"  # new, unknown id, unknown code, same, changed
                      f"{ids[1]},2583\n{'0' * 32},10\n{ids[2]},777\n{ids[0]},2705\n{ids[3]},2462\n")
    page.locator("#review-import-file input[type=file]").set_input_files(str(upload))
    page.locator("#review-import").click()
    said = wait_text(page, "review-import-message", "rows read")
    assert "5 rows read: 1 labels stored, 1 replaced, 1 unchanged" in said
    assert "1 no logged prediction has this id" in said and "1 unknown prdtypecode" in said
    assert labels_frame(store).set_index("prediction_id").loc[ids[3], "prdtypecode"] == 2462
    assert not page.hub_errors, page.hub_errors
