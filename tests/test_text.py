"""User text in Markdown is escaped: what the user typed is what is shown."""

import re

import pytest

from ocms_data.ui.text import WORD_JOINER, md


@pytest.mark.parametrize(
    "raw",
    [
        "[Sign in again](http://evil.example/x)",
        "![t](http://evil.example/t.png)",
        "**bold** _it_ `code` # heading",
        ":red[red] :material/home: :smile:",
        "$x^2$ <b>h</b> | a | b |",
    ],
)
def test_markdown_syntax_is_escaped(raw):
    escaped = md(raw)
    assert escaped.replace("\\", "").replace(WORD_JOINER, "") == raw
    assert not re.search(r"(?<!\\)[\[\]()*_`#:$<>|!]", escaped)


@pytest.mark.parametrize("raw", ["https://evil.example/y", "www.evil.example", "jo@evil.example"])
def test_bare_autolinks_are_broken_by_an_invisible_joiner(raw):
    escaped = md(raw)
    assert WORD_JOINER in escaped
    assert escaped.replace("\\", "").replace(WORD_JOINER, "") == raw


def test_a_colon_in_plain_text_gets_no_joiner():
    assert WORD_JOINER not in md("Layout check: welcome evening")


def test_plain_text_and_none():
    assert md("Amira Haddad") == "Amira Haddad"
    assert md(None) == ""
    assert md(42) == "42"
