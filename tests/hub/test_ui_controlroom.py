"""The control room of issue 11 in a real browser (Playwright driving Debian's Chromium): the system
drawn on the Overview, dataset paging and search, the ingest message, the top-5 bars, the history
after a prediction, unknown words, the batch preview, a queued run's details, the monitoring
chart's time axis, the one table style and the confusion matrix.

The stack: API, Dagster webserver + code server and no daemon (so a launched run stays queued and
the Overview has a part that is down), MLflow and the store on SQLite. Screenshots go to
test-artifacts/hub/; the ones docs/hub.md shows have the names they have in docs/images/, where
scripts/refresh-hub-screenshots.sh copies them.
"""

from __future__ import annotations

import time

import pytest

from tests.support.hub import (
    artifact_dir,
    choose,
    chromium_browser,
    hub_page,
    hub_stack,
    launch_hub,
    open_tab,
    require_chromium,
    text_of,
    wait_text,
)

require_chromium()

TAB_TIMEOUT_MS = 30_000
MARKER = "Zorglub"  # a word found in one stored product only
ENTITY_TITLE = f"Lampe {MARKER} d&#39;une pi&amp;egrave;ce"
ENTITY_DESCRIPTION = "Premi&egrave;re ligne<br />Deuxi&#232;me ligne &lt;b&gt;gras&lt;/b&gt;"


def store_html_products(settings) -> None:
    """Products whose text holds HTML entities and tags, as the real catalogue does."""
    import pandas as pd

    from rakuten_assets.core.sources import ingest_files
    from rakuten_assets.core.store import ProductStore

    folder = settings.home_dir / "fixtures"
    folder.mkdir(parents=True, exist_ok=True)
    x = folder / "X_entities.csv"
    pd.DataFrame({"designation": [ENTITY_TITLE, "Coussin uni"],
                  "description": [ENTITY_DESCRIPTION, "Housse<br>coton"],
                  "productid": [9_000_000_001, 9_000_000_002], "imageid": [1, 2],
                  "prdtypecode": [2060, 1920]}, index=[900001, 900002]).to_csv(x)
    store = ProductStore(settings.db_url)
    try:
        ingest_files(store, x, None)
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_controlroom")
    with hub_stack(root, dagster=True, daemon=False, meanwhile=store_html_products) as live:
        demo, url = launch_hub(live.hub_settings())
        live.hub_url, live.demo = url, demo
        try:
            yield live
        finally:
            demo.close()


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    with hub_page(browser, TAB_TIMEOUT_MS) as page:
        yield page
        assert not page.hub_errors, page.hub_errors


def open_hub(page, url: str) -> None:
    page.goto(url)
    page.locator("#overview-system svg.hub-system").wait_for()


def shot(page, file_name: str, element: str | None = None) -> None:
    """The whole page or one element; the ones docs/hub.md shows have docs/images' file names
    (scripts/refresh-hub-screenshots.sh copies them there)."""
    path = str(artifact_dir() / file_name)
    if element:
        page.locator(element).screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=True)


def field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def sample_column(page, column: int) -> list[str]:
    """The cells of one column of the sample table that are drawn (the table draws only the rows
    in view)."""
    page.locator("#dataset-sample [data-testid='cell-0-0']").wait_for()
    out = []
    while True:
        cell = page.locator(f"#dataset-sample [data-testid='cell-{len(out)}-{column}']")
        if cell.count() == 0:
            return out
        out.append(cell.inner_text().strip())


# --- Overview: the system drawn ----------------------------------------------------------------------
def test_overview_draws_the_system_with_live_health_and_marks_links_that_are_down(stack, page):
    open_hub(page, stack.hub_url)
    states = {}
    nodes = page.locator("#overview-system g.hub-node")
    for i in range(nodes.count()):
        states[nodes.nth(i).get_attribute("data-service")] = nodes.nth(i).get_attribute("data-state")
    assert states == {"hub": "up", "api": "up", "dagster_web": "up", "dagster_code": "up",
                      "dagster_daemon": "down",  # this stack runs no daemon
                      "mlflow": "up", "database": "up", "prometheus": "off", "grafana": "off"}
    # Coloured by state: an up box and the down daemon differ.
    up = page.locator("#overview-system g[data-service='api'] rect").get_attribute("stroke")
    down = page.locator("#overview-system g[data-service='dagster_daemon'] rect").get_attribute("stroke")
    assert up != down
    # Each box with a UI links to it; a service that is not running has no link to follow.
    href = page.locator("#overview-system a:has(g[data-service='api'])").get_attribute("href")
    assert href == stack.api.url + "/docs"
    assert page.locator("#overview-system a:has(g[data-service='dagster_web'])").get_attribute(
        "href") == stack.dagster.url
    assert page.locator("#overview-system a:has(g[data-service='grafana'])").count() == 0
    assert page.locator("#overview-system path.hub-path").count() >= 10
    # Grafana, Prometheus and the MLflow UI are configured but down: their links say so, Dagster's
    # does not.
    down_links = page.locator("#overview-links li.hub-link-down")
    assert sorted(down_links.nth(i).inner_text().split(" down")[0] for i in range(down_links.count())) == [
        "Grafana dashboards", "MLflow UI (runs, registered models)", "Prometheus"]
    assert "unreachable" in text_of(page, "overview-links")
    assert "Dagster UI" in page.locator("#overview-links li.hub-link-up").first.inner_text()
    shot(page, "hub-controlroom-overview.png")
    shot(page, "hub-system.png", "#overview-system")


# --- Dataset ------------------------------------------------------------------------------------------
def test_dataset_pages_out_of_range_are_said_and_the_table_stays(stack, page):
    open_hub(page, stack.hub_url)
    open_tab(page, "Dataset")
    info = wait_text(page, "dataset-page-info", "Page 1 of")
    total_pages = int(info.split("Page 1 of ")[1].split(":")[0])
    assert total_pages == -(-1502 // 20)  # 1,500 synthetic products and the two with HTML
    first = sample_column(page, 0)
    assert first and len(first) <= 20

    for asked in ("0", "-3"):
        field(page, "dataset-page").fill(asked)
        field(page, "dataset-page").press("Enter")
        said = wait_text(page, "dataset-page-info", f"you asked for page {asked}")
        assert "Pages start at 1" in said and "Page 1 of" in said
        assert sample_column(page, 0) == first, "the table must not go blank"
        assert page.locator("#dataset-page .error, [data-testid='error']").count() == 0
    field(page, "dataset-page").fill("9999")
    field(page, "dataset-page").press("Enter")
    said = wait_text(page, "dataset-page-info", "you asked for page 9999")
    assert f"only {total_pages} pages" in said and f"Page {total_pages} of {total_pages}" in said
    last = sample_column(page, 0)
    assert last and last[0] != first[0]
    assert field(page, "dataset-page").input_value() == str(total_pages)
    page.locator("#dataset-prev").click()
    wait_text(page, "dataset-page-info", f"Page {total_pages - 1} of {total_pages}")


def test_dataset_search_class_filter_and_html_shown_as_decoded_text(stack, page):
    open_hub(page, stack.hub_url)
    open_tab(page, "Dataset")
    wait_text(page, "dataset-page-info", "Page 1 of")
    field(page, "dataset-search").fill(MARKER.lower())  # any case
    field(page, "dataset-search").press("Enter")
    said = wait_text(page, "dataset-page-info", "Page 1 of 1: rows 1–1 of 1 product matching")
    assert MARKER.lower() in said
    assert sample_column(page, 0) == ["9000000001"]
    [title], [description] = sample_column(page, 1), sample_column(page, 2)
    assert title == f"Lampe {MARKER} d'une pièce"
    assert description.split() == ["Première", "ligne", "Deuxième", "ligne", "gras"]
    assert "\n" in description  # the <br /> is a line break
    for raw in ("&#39;", "&amp;", "&egrave;", "<br", "&lt;", "<b>"):
        assert raw not in title + description
    assert page.locator("#dataset-sample td b, #dataset-sample td br").count() == 0  # text, not HTML
    shot(page, "hub-dataset-search.png")

    field(page, "dataset-search").fill("no product has this")
    field(page, "dataset-search").press("Enter")
    wait_text(page, "dataset-page-info", "No product matching")

    field(page, "dataset-search").fill("")
    choose(page, "dataset-class", "1920 Home > Household Linens")
    said = wait_text(page, "dataset-page-info", "of class 1920")
    categories = sample_column(page, 4)
    assert categories and set(categories) == {"Home > Household Linens"}
    count = int(said.split(" of ")[2].split(" product")[0])
    assert count >= 2 and "Page 1 of" in said


def test_a_product_file_alone_gets_a_clear_answer_right_under_the_buttons(stack, page, tmp_path):
    upload = tmp_path / "X_only.csv"
    upload.write_text(",designation,description,productid,imageid\n0,Jeu PS4,,1,2\n")
    open_hub(page, stack.hub_url)
    open_tab(page, "Dataset")
    wait_text(page, "dataset-page-info", "Page 1 of")
    page.locator("#ingest-x-file input[type=file]").set_input_files(str(upload))
    wait_text(page, "ingest-x-file", "X_only")
    page.locator("#ingest-files").click()
    said = wait_text(page, "ingest-message", "has no prdtypecode column")
    assert "X_only.csv" in said and "Nothing was ingested" in said
    assert "/tmp" not in said and "gradio" not in said and "--" not in said
    buttons = page.locator("#ingest-buttons").bounding_box()
    message = page.locator("#ingest-message").bounding_box()
    assert 0 <= message["y"] - (buttons["y"] + buttons["height"]) < 40, (buttons, message)
    shot(page, "hub-controlroom-dataset-ingest.png")


# --- Predict ------------------------------------------------------------------------------------------
def test_prediction_bars_keep_their_labels_and_the_history_updates_by_itself(stack, page):
    open_hub(page, stack.hub_url)
    open_tab(page, "Predict")
    page.locator("#predict-history").wait_for()
    title = f"Console de jeux portable {int(time.time())}"
    field(page, "predict-designation").fill(title)
    page.locator("#predict-button").click()
    page.locator("#predict-result .hub-predicted-category").wait_for()
    expected = []
    rows = page.locator("#predict-result table tbody tr")
    for i in range(rows.count()):
        code, category = rows.nth(i).locator("td").nth(0).inner_text(), rows.nth(i).locator("td").nth(1).inner_text()
        expected.append(f"{code} {category.split(' > ')[-1]}")
    labels = page.locator("#predict-chart .hub-bar-label")
    assert labels.count() == 5
    for i in range(5):
        label = labels.nth(i)
        assert label.inner_text().strip() == expected[i]
        clipped = label.evaluate("el => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1")
        assert not clipped, expected[i]
    # No refresh pressed: the prediction shows in the history once the API has logged it.
    wait_text(page, "predict-history", title, 15_000)
    shot(page, "hub-controlroom-predict.png")


@pytest.mark.parametrize("title", ["東京タワー 記念 グッズ", "هاتف محمول جديد", "Новый мобильный телефон",
                                   "🎮🎧📱", "12345"])
def test_titles_the_model_cannot_read_are_flagged(stack, page, title):
    open_hub(page, stack.hub_url)
    open_tab(page, "Predict")
    field(page, "predict-designation").fill(title)
    page.locator("#predict-button").click()
    page.locator("#predict-result .hub-predicted-category").wait_for()
    warning = page.locator("#predict-result .hub-notice.hub-warn")
    assert "The model knows only 0% of these words" in warning.inner_text()


def test_batch_preview_shows_the_prediction_columns_first(stack, page, tmp_path):
    """With the known-word share of each row, and a warning naming how many rows the model barely
    knows (a Japanese title: none of its words)."""
    upload = tmp_path / "batch.csv"
    upload.write_text("designation,description,my_ref\nJeu PS4 FIFA 19,,a1\nPiscine tubulaire,,a2\n"
                      "東京タワー 記念 グッズ,,a3\n", encoding="utf-8")
    open_hub(page, stack.hub_url)
    open_tab(page, "Predict")
    page.locator("#batch-upload input[type=file]").set_input_files(str(upload))
    wait_text(page, "batch-upload", "batch")
    page.locator("#batch-button").click()
    wait_text(page, "batch-message", "Predicted 3 of 3 rows")
    headers = page.locator("#batch-preview thead th")
    names = [headers.nth(i).inner_text().strip() for i in range(headers.count())]
    names = [n for n in names if n]
    assert names[:6] == ["prdtypecode", "category", "confidence", "status", "model_version",
                         "known_word_share"], names
    assert names[6:] == ["designation", "description", "my_ref"], names
    warning = page.locator("#batch-message .hub-batch-known-words .hub-warn").inner_text()
    assert "under 50% of the words of" in warning and "of the 3 predicted rows" in warning
    barely = int(warning.split("of the words of ")[1].split()[0])
    shares = [float(page.locator(f"#batch-preview [data-testid='cell-{row}-5']").inner_text())
              for row in range(3)]  # in the file's order
    assert shares[2] == 0.0  # the Japanese title
    assert barely == sum(share < 0.5 for share in shares) >= 1
    shot(page, "hub-controlroom-batch.png", "#batch-message")


# --- Training -----------------------------------------------------------------------------------------
def test_a_launched_run_shows_what_it_is_and_what_it_waits_for(stack, page):
    open_hub(page, stack.hub_url)
    open_tab(page, "Training")
    page.locator("#launch-button").click()
    status = page.locator("#launch-status .hub-run-status")
    status.wait_for()
    assert status.get_attribute("data-status") in ("QUEUED", "NOT_STARTED")  # no daemon in this stack
    details = page.locator("#launch-status .hub-run-details").inner_text()
    assert "training_job" in details and "launched by" in details and "rakuten-hub:anyone" in details
    assert "waiting for the Dagster daemon" in details and "s ago" in details
    run_id = details.split("run id")[1].split()[0]
    assert len(run_id) == 36
    assert page.locator("#launch-status a").first.get_attribute("href") == f"{stack.dagster.url}/runs/{run_id}"
    shot(page, "hub-run-queued.png", "#launch-status")


def test_tables_share_one_style_and_the_confusion_matrix_is_shown_unscaled(stack, page, tmp_path):
    import mlflow
    import numpy as np

    from rakuten_assets.core.categories import CODES
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.training import plot_confusion_matrix

    registry = ModelRegistry(stack.settings)
    version = registry.version("1")
    rng = np.random.default_rng(0)
    truth = np.repeat(list(CODES), 20)
    guess = np.where(rng.random(truth.size) < 0.8, truth, rng.choice(list(CODES), truth.size))
    image = plot_confusion_matrix(truth, guess, tmp_path / "confusion_matrix_v1.png", "v1 (test)")
    mlflow.MlflowClient(stack.settings.tracking_uri).log_artifact(version.run_id, str(image), "evaluation")

    open_hub(page, stack.hub_url)
    style = "el => { const s = getComputedStyle(el); return [s.fontSize, s.backgroundColor, s.fontFamily]; }"
    html_head = page.locator("#overview-health table.hub-table th").first.evaluate(style)
    open_tab(page, "Training")
    page.locator("#training-versions thead th").first.wait_for()
    frame_head = page.locator("#training-versions thead th").first.evaluate(style)
    assert html_head == frame_head, (html_head, frame_head)
    cell = "el => { const s = getComputedStyle(el); return [s.fontSize, s.fontFamily]; }"
    assert page.locator("#training-versions [data-testid='cell-0-0']").evaluate(cell) == [html_head[0], html_head[2]]

    choose(page, "cm-version", "1")
    img = page.locator("#cm-image img")
    img.wait_for()
    page.wait_for_function("() => { const i = document.querySelector('#cm-image img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    natural, shown = img.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
    assert natural >= 900 and shown >= 0.95 * natural, (natural, shown)
    img.scroll_into_view_if_needed()
    shot(page, "hub-controlroom-confusion.png", "#cm-image")


# --- Monitoring ---------------------------------------------------------------------------------------
def test_the_rate_chart_spaces_samples_by_their_real_time_and_shows_gaps(stack, page):
    from gradio_hub.live_metrics import Snapshot

    history = stack.demo.hub_context.metrics_history
    history.min_interval = 1e9  # the tab shows these samples and fetches no new one
    now = time.time()
    with history._lock:
        history.samples.clear()
        for offset, requests in ((-300, 0), (-290, 10), (-280, 30), (-100, 40), (-90, 55)):
            history.samples.append(Snapshot(at=now + offset, requests=requests,
                                            buckets={0.01: requests, float("inf"): requests}))
    open_hub(page, stack.hub_url)
    open_tab(page, "Monitoring")
    points = page.locator("#monitoring-rate circle.hub-chart-point")
    points.first.wait_for()
    xs = [float(points.nth(i).get_attribute("cx")) for i in range(points.count())]
    assert len(xs) == 4  # one rate per pair of samples
    # at -290, -280, -100, -90: steps of 10 s, 180 s, 10 s
    assert (xs[2] - xs[1]) / (xs[1] - xs[0]) == pytest.approx(18, rel=0.02)
    assert (xs[3] - xs[2]) == pytest.approx(xs[1] - xs[0], rel=0.02)
    assert page.locator("#monitoring-rate polyline.hub-chart-line").count() == 2, "the gap breaks the line"
    shot(page, "hub-rate.png", "#monitoring-rate")
