"""Text cleaning shared by training and serving.

It lives inside the logged sklearn pipeline (see `model.py`), so a served model can never
clean text differently from the way it was trained.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Combining marks left by NFKD decomposition (the accents of é, ü, ç...). A regex over the
# decomposed string is an order of magnitude faster than testing each character in Python,
# which mattered: cleaning dominated drift-report time on long descriptions.
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def strip_tags(text: str) -> str:
    """Each `<...>` (no `<` or `>` inside, at least one character) replaced by a space.

    Not the regex `<[^>]+>` it replaces: that regex retries from every `<` that has no closing
    `>` and scans to the end each time, so 10,000 `<` cost 50 million steps and one 4 MB batch
    held the model thread for 25 s (issue 13). Here the text is split at every `<`; a tag is a
    piece that has a `>` after at least one character, and ends there. Every character is read
    once by the split and at most once by the search for `>` of its own piece, whatever the
    input (tests/core/test_text_linear.py counts the characters read). Half the time of the
    scanner over `find`/`rfind` used before (issue 14), same result.
    """
    pieces = text.split("<")
    out = [pieces[0]]
    for piece in pieces[1:]:
        inside, closed, after = piece.partition(">")
        # `<a <b>` keeps `<a ` as text (the tag opens at the last `<`); `<>` is not a tag
        out.append(" " + after if closed and inside else "<" + piece)
    return "".join(out)


def strip_accents(text: str) -> str:
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def markup_free(text: object) -> str:
    """The first half of cleaning: HTML entities unescaped (twice), tags removed; None/NaN -> "".
    Whitespace and case are untouched: `fold_words` finishes the job."""
    if text is None or (isinstance(text, float) and text != text):  # None or NaN
        return ""
    s = str(text)
    # Each step is skipped when it cannot change the text: a third less cleaning time, which is
    # a third of a served batch's CPU (issue 14).
    if "&" in s:
        s = html.unescape(s)
        if "&" in s:  # no `&` left: a second unescape would change nothing
            s = html.unescape(s)
    if "<" in s:
        s = strip_tags(s)
    return s


def fold_words(text: str) -> list[str]:
    """The second half of cleaning: accents folded, lower-cased, split into words.

    It works chunk by chunk: for any string `s`,
    `fold_words(s) == [w for chunk in s.split() for w in fold_words(chunk)]`
    (no step joins or crosses whitespace: accent folding acts per character and never turns
    whitespace into anything else, and lower-casing's only context rule, the Greek final sigma,
    stops at whitespace; tests/core/test_text_linear.py checks every code point). The API's
    fast path relies on it to fold each distinct raw chunk once (issue 14). `split()` splits on
    exactly the characters `\\s` matches (checked over all of Unicode).
    """
    if not text.isascii():  # ASCII has no accents to fold
        text = strip_accents(text)
    return text.lower().split()


def clean_words(text: object) -> list[str]:
    """The words of the cleaned text: `clean_text(text) == " ".join(clean_words(text))`."""
    return fold_words(markup_free(text))


def clean_text(text: object) -> str:
    """HTML tags removed, entities unescaped (twice: the catalogue holds double-escaped
    text such as `&amp;eacute;`), accents folded, lower-cased, whitespace collapsed."""
    return " ".join(clean_words(text))


def join_fields(designation: object, description: object) -> str:
    """The single text the model reads: title then description, each cleaned."""
    return " ".join(clean_words(designation) + clean_words(description))


def markup_free_texts(designations, descriptions) -> list[str]:
    """Many rows' `join_fields` texts before `fold_words`: each row's `markup_free` title and
    description, joined by a space. Folding each whitespace-separated chunk gives the cleaned
    words (`fold_words` works chunk by chunk), so a caller that meets the same chunk again can
    fold it once (the API's chunk cache)."""
    return [f"{markup_free(designation)} {markup_free(description)}"
            for designation, description in zip(designations, descriptions)]
