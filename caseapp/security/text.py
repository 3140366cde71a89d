"""Characters a person's text may hold: what XML 1.0 allows (every document and spreadsheet we
write is XML inside), less the control characters other than tab and line breaks, and less
U+FFFD (the mark of bytes that were not text). A text frozen before this rule, or one that
reached the database another way, is scrubbed on its way into a document."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

# Everything XML 1.0 refuses, plus U+FFFD.
_REFUSED = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffc\U00010000-\U0010ffff]")


def refused_characters(text: str) -> bool:
    """Whether ``text`` holds a character no form of the service accepts."""
    return _REFUSED.search(text) is not None


def scrubbed(value: Any) -> Any:
    """``value`` with every string in it (in lists, dicts and dataclasses too) rid of refused
    characters."""
    if isinstance(value, str):
        return _REFUSED.sub("", value)
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrubbed(v) for v in value)
    if isinstance(value, dict):
        return {scrubbed(k): scrubbed(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: scrubbed(getattr(value, f.name)) for f in fields(value)})
    return value
