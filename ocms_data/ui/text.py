"""User text inside Markdown: shown as typed, never read as links, images, formatting or directives."""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_WWW = re.compile(r"(?<=www)(?=\\\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def md(value) -> str:
    """`value` escaped for any Markdown-rendering element (markdown, captions, alerts, titles, labels).

    Every ASCII punctuation mark is backslash-escaped (CommonMark shows it literally), which stops
    links, images, emphasis, Streamlit's `:color[...]`, emoji and icon directives and LaTeX. GitHub's
    bare autolinks (`https://…`, `www.…`, `name@host`) are found after escapes are read, so an
    invisible word joiner breaks them: between `:` and `//`, before each `@`, after a leading `www`.
    """
    if value is None:
        return ""
    text = _PUNCTUATION.sub(r"\\\1", str(value))
    text = text.replace("\\:\\/", "\\:" + WORD_JOINER + "\\/").replace("\\@", WORD_JOINER + "\\@")
    return _WWW.sub(WORD_JOINER, text)
