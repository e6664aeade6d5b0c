"""The API exports the latest drift report as gauges, read from the database every replica sees."""

from __future__ import annotations


def test_metrics_carry_the_latest_drift_report(rakuten_env):
    from api.main import create_app
    from fastapi.testclient import TestClient

    from rakuten_assets.core.store import ProductStore

    with TestClient(create_app(rakuten_env)) as client:
        before = client.get("/metrics").text
        assert "rakuten_drift_share" in before  # declared even before the first report
        assert "\nrakuten_drift_share " not in before  # ... but no value yet
        ProductStore(rakuten_env.db_url).record_drift(
            status="drift", drift_detected=True, drifted_share=0.6, rows_reference=500, rows_current=400,
            model_version="1", html_path=None, summary={})
    with TestClient(create_app(rakuten_env)) as client:  # a fresh app reads it at once
        text = client.get("/metrics").text
    assert "rakuten_drift_share 0.6" in text
    assert "rakuten_drift_detected 1.0" in text
    assert "rakuten_drift_report_timestamp_seconds" in text


def test_a_scrape_waiting_on_the_database_does_not_hold_up_other_requests(rakuten_env):
    """A PostgreSQL outage in the compose run: /metrics read the gauges from a database that did
    not answer, on the event loop, and predictions timed out behind it. Here a gauge blocks until
    /health has been answered; if the scrape ran on the loop, /health could not be answered."""
    import threading

    from api.main import create_app
    from fastapi.testclient import TestClient

    health_answered = threading.Event()
    seen: dict[str, bool] = {}

    class DatabaseThatHangs:
        def collect(self):
            seen["health answered while the scrape waited"] = health_answered.wait(60)
            return []

    with TestClient(create_app(rakuten_env)) as client:
        client.app.state.metrics.add_collector(DatabaseThatHangs())
        scrape = threading.Thread(target=lambda: seen.setdefault("scrape", client.get("/metrics").status_code))
        scrape.start()
        assert client.get("/health").status_code == 200
        health_answered.set()
        scrape.join(90)
    assert seen == {"health answered while the scrape waited": True, "scrape": 200}
