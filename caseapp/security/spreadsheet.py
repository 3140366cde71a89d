"""Cells that a spreadsheet shows and never runs: the one guard against formula (CSV)
injection, for every export (report CSV and XLSX, audit CSV)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# What makes Excel, LibreOffice and Google Sheets read a cell as a formula (or DDE call).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FIRST = frozenset(c[0] for c in FORMULA_START)
# Digits with separators, a sign and a percent at most (-3, 2,5, 1.234, 75%): a number, which
# cannot call anything, so it is left for the spreadsheet to read as one.
_PLAIN_NUMBER = re.compile(r"-?[\d.,]+%?")


def inert_text(value: object) -> str:
    """``value`` as text that reads the same in a spreadsheet and cannot run: text that would
    start a formula gets a leading apostrophe, as spreadsheets themselves write it."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def inert_row(values: Iterable[object]) -> list[str]:
    """inert_text of each value, for exports of many rows (the audit CSV): only the cells
    that start as a formula would go through the check."""
    cells = ["" if v is None else str(v) for v in values]
    return [inert_text(c) if c[:1] in _FIRST else c for c in cells]
