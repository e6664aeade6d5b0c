"""The control room's pure helpers, without a browser: catalogue HTML as text, the page asked
for, a product file without labels, the system diagram's escaping and the time axis."""

from __future__ import annotations

import pandas as pd
import pytest


def test_catalogue_html_becomes_text_with_its_line_breaks():
    from gradio_hub.common import html_to_text

    assert html_to_text("d&#39;une pi&amp;egrave;ce") == "d'une pièce"
    assert html_to_text("un<br />deux<BR>trois<p>quatre</p>cinq") == "un\ndeux\ntrois quatre\ncinq"
    assert html_to_text("&lt;script&gt;alert(1)&lt;/script&gt;ok") == "alert(1) ok"
    assert html_to_text("a < b") == "a < b"
    assert html_to_text(None) == "" and html_to_text(float("nan")) == ""


def test_page_requests():
    from gradio_hub.tabs.dataset import class_code, page_request

    assert page_request(3) == (3, "") and page_request("0") == (0, "") and page_request(-2.0) == (-2, "")
    for bad in (None, "", "x", 1.5, float("nan")):
        number, why = page_request(bad)
        assert number is None and "whole number" in why
    assert class_code("2583 Garden & Pool > Pool") == 2583 and class_code("all classes") is None


def test_a_product_file_without_labels_is_named_by_its_file_name_only(tmp_path):
    from gradio_hub.tabs.dataset import missing_labels

    alone = tmp_path / "X_only.csv"
    alone.write_text(",designation,description,productid,imageid\n0,a,,1,2\n")
    said = missing_labels(str(alone))
    assert "X_only.csv" in said and str(tmp_path) not in said and "--" not in said
    labelled = tmp_path / "X_labelled.csv"
    labelled.write_text(",designation,description,productid,imageid,prdtypecode\n0,a,,1,2,10\n")
    assert missing_labels(str(labelled)) == ""


def test_the_diagram_escapes_what_services_say_and_dashes_paths_to_parts_that_are_down():
    from gradio_hub.diagram import LAYOUT, Node, system_svg

    svg = system_svg([Node("api", "down", '<img src=x onerror="alert(1)">', 'http://x/"><script>'),
                      Node("hub", "up")])
    assert "<img" not in svg and "<script>" not in svg and "&lt;img" in svg
    assert svg.count('class="hub-node"') == len(LAYOUT)
    assert 'data-service="dagster_web" data-state="unknown"' in svg  # not given: unknown
    hub_api = svg.split('data-from="hub" data-to="api"')[1].split(">")[0]
    assert "stroke-dasharray" in hub_api
    hub_web = svg.split('data-from="hub" data-to="dagster_web"')[1].split(">")[0]
    assert "stroke-dasharray" not in hub_web


def test_the_time_axis_spaces_samples_by_time_and_breaks_at_gaps():
    import re

    from gradio_hub.charts import time_series_svg

    frame = pd.DataFrame({"time": [0.0, 10.0, 20.0, 200.0, 210.0], "metric": ["requests/s"] * 5,
                          "value": [1.0, 2.0, 1.0, 3.0, 2.0]})
    svg = time_series_svg(frame, title="Request rate", unit="requests/s", elem_class="c")
    xs = [float(x) for x in re.findall(r'circle class="hub-chart-point"[^>]* cx="([0-9.]+)"', svg)]
    assert (xs[3] - xs[2]) / (xs[1] - xs[0]) == pytest.approx(18, rel=0.01)  # 180 s against 10 s
    assert svg.count("<polyline") == 2
    assert "No samples yet" in time_series_svg(frame.iloc[:0], title="t", unit="u", elem_class="c")


def run_details(status: str, created_ago_s: float | None) -> str:
    """The Training tab's detail table of a run, as text: what the run is and what it waits for."""
    import html
    import re
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from gradio_hub.clients.dagster import RunInfo
    from gradio_hub.tabs.training import run_html

    created = None if created_ago_s is None else datetime.now(UTC) - timedelta(seconds=created_ago_s)
    run = RunInfo("0123456789abcdef", "training_job", status, created, None, None, [],
                  tags={"launched_by": "rakuten-hub:anyone"}, assets=["model"])
    ctx = SimpleNamespace(dagster=SimpleNamespace(run_url=lambda run_id: f"http://dagster/runs/{run_id}"))
    page = run_html(ctx, run)
    details = page.split('class="hub-table hub-run-details"')[1].split("</table>")[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", details))


@pytest.mark.parametrize("status", ["QUEUED", "NOT_STARTED"])
def test_a_run_not_yet_taken_from_the_queue_says_it_waits_for_the_daemon(status):
    said = run_details(status, 30)
    assert "waiting for the Dagster daemon to take it from the queue" in said
    assert "training_job" in said and "rakuten-hub:anyone" in said and "model" in said


def test_a_starting_run_says_what_it_waits_for_and_since_when():
    import re

    said = run_details("STARTING", 40)
    assert "the run's own process is starting" in said and "loads the project's code" in said
    assert re.search(r"launched \d+ s ago", said), said
    assert "tens of seconds is usual" in said and "failed to start" not in said


def test_a_run_starting_for_minutes_points_to_its_logs():
    said = run_details("STARTING", 600)
    assert "launched 10 min ago" in said
    assert "may have failed to start" in said and "logs in the Dagster UI" in said


def test_a_starting_run_without_a_creation_time_still_says_what_it_waits_for():
    said = run_details("STARTING", None)
    assert "loads the project's code" in said and "ago" not in said
