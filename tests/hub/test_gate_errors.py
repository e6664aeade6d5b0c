"""Errors a hub visitor reads carry no internal paths or URLs (issue 13: temp upload paths and
service URLs in "Something went wrong" messages); the log keeps the whole text."""

from __future__ import annotations

import logging

from gradio_hub.common import describe_error
from rakuten_assets.core.redact import public_text


def test_unexpected_errors_hide_paths_and_urls(caplog):
    exc = FileNotFoundError("[Errno 2] No such file: '/tmp/gradio/3f2a9c/X_train.csv' "
                            "(staged by http://dagster:3000/graphql)")
    with caplog.at_level(logging.ERROR, logger="gradio_hub"):
        text = describe_error(exc)
    assert "/tmp/gradio" not in text and "dagster:3000" not in text
    assert text.startswith("Something went wrong: FileNotFoundError") and "<path>" in text
    assert "/tmp/gradio/3f2a9c/X_train.csv" in caplog.text


def test_public_text_variants():
    assert public_text("HTTPConnectionPool(host='mlflow', port=5000): Max retries exceeded with "
                       "url: /api/2.0/mlflow/x") == "HTTPConnectionPool(<host>, <host>): Max retries exceeded with <host>"
    assert public_text("postgresql+psycopg2://user:pw@db:5432/rakuten down") == "<url> down"
    assert public_text("version 3 failed: ValueError: 1/2 and 10 / 4") == "version 3 failed: ValueError: 1/2 and 10 / 4"
