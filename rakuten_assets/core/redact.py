"""Error text fit for clients: URLs, host names and file paths replaced by placeholders.

Issue 13 found MLflow's internal URL in the API's 503 details and temp paths in the hub's
errors. The full text still goes to the log; what a client or a hub visitor reads has none.
"""

from __future__ import annotations

import re

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_HOST = re.compile(r"host='[^']*'|port=\d+|url: \S+")
_PATH = re.compile(r"(?<![\w.])(?:/[\w.@+-]+){2,}/?")


def public_text(text: str) -> str:
    """`text` without URLs (`<url>`), hosts (`<host>`) and absolute paths (`<path>`)."""
    text = _URL.sub("<url>", text)
    text = _HOST.sub("<host>", text)
    return _PATH.sub("<path>", text)
