"""HTML in note text: the pattern that finds it (used by screening, notewatt/screening.py) and the cleaning that
runs on the executors (a pandas UDF body) before the text reaches the model."""

from __future__ import annotations

import html
import re

import pandas as pd

# Written to mean the same in Java (Spark SQL's rlike) and Python (clean_html).
HTML_TAG_NAMES = (
    "a|abbr|b|big|blockquote|body|br|caption|center|code|col|colgroup|dd|div|dl|dt|em|font|footer|h[1-6]|head|"
    "header|hr|html|i|img|li|link|meta|ol|p|pre|s|script|section|small|span|strike|strong|style|sub|sup|table|"
    "tbody|td|tfoot|th|thead|title|tr|tt|u|ul"
)
HTML_TAG = rf"</?(?:{HTML_TAG_NAMES})\b[^<>]*>"
HTML_ENTITY = (
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos|nbsp|ndash|mdash|deg|plusmn|micro|middot|"
    r"bull|hellip|lsquo|rsquo|ldquo|rdquo|times|divide|frac12|frac14|le|ge|ne|copy|reg|trade);"
)
HTML_PATTERN = rf"(?i)<!--|<!doctype\b|{HTML_TAG}|{HTML_ENTITY}"  # tags of known names, comments, entities

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_HIDDEN = re.compile(r"<(script|style|head)\b[^<>]*>.*?</\1\s*>", re.I | re.S)
_BREAK = re.compile(
    r"<(?:br|hr)\b[^<>]*>|</?(?:p|div|li|tr|h[1-6]|table|ul|ol|dl|dd|dt|blockquote|pre|section|header|footer|"
    r"caption|title|body|html)\b[^<>]*>",
    re.I,
)
_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_TAG = re.compile(rf"{HTML_TAG}|<!doctype\b[^<>]*>", re.I)
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n\s*\n(?:\s*\n)+")


def clean_html(text: str) -> str:
    """Text without HTML: comments, script/style/head dropped; block tags to line breaks; entities unescaped."""
    text = _HIDDEN.sub("", _COMMENT.sub("", text))
    text = _TAG.sub("", _CELL_END.sub(" ", _BREAK.sub("\n", text)))
    text = html.unescape(text).replace("\xa0", " ")
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def clean_html_texts(texts: pd.Series) -> pd.Series:
    """The pandas UDF body: each text cleaned of HTML (nulls stay null)."""
    return texts.map(lambda t: clean_html(t) if isinstance(t, str) else None)
