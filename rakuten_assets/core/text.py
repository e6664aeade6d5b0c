"""Text cleaning shared by training and serving.

It lives inside the logged sklearn pipeline (see `model.py`), so a served model can never
clean text differently from the way it was trained.
"""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
# Combining marks left by NFKD decomposition (the accents of é, ü, ç...). A regex over the
# decomposed string is an order of magnitude faster than testing each character in Python,
# which mattered: cleaning dominated drift-report time on long descriptions.
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def strip_accents(text: str) -> str:
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def clean_text(text: object) -> str:
    """HTML tags removed, entities unescaped (twice: the catalogue holds double-escaped
    text such as `&amp;eacute;`), accents folded, lower-cased, whitespace collapsed."""
    if text is None or (isinstance(text, float) and text != text):  # None or NaN
        return ""
    s = str(text)
    s = html.unescape(html.unescape(s))
    s = _TAG.sub(" ", s)
    s = strip_accents(s).lower()
    return _SPACES.sub(" ", s).strip()


def join_fields(designation: object, description: object) -> str:
    """The single text the model reads: title then description, each cleaned."""
    title = clean_text(designation)
    body = clean_text(description)
    return f"{title} {body}".strip() if body else title
