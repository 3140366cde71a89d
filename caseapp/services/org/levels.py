"""A school's level, ownership and a commune's local type guessed from a Vietnamese name.

Used where a unit arrives without them (units recorded before the two-tier organisation, an
import that leaves a column empty). The rules are ordered: the first that matches wins, so a
"Trường PTDTNT THCS và THPT" is a boarding school, not a lower-secondary one.
"""

from __future__ import annotations

import unicodedata

_LEVEL_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("boarding_ethnic", ("dân tộc nội trú", "dân tộc bán trú", "ptdtnt", "ptdtbt")),
    ("multi_level", ("liên cấp", "th&thcs", "th và thcs", "thcs&thpt", "thcs và thpt")),
    ("preschool", ("mầm non", "mẫu giáo", "nhà trẻ")),
    ("continuing_education", ("thường xuyên", "gdtx", "gdnn")),
    ("upper_secondary", ("thpt", "trung học phổ thông")),
    ("lower_secondary", ("thcs", "trung học cơ sở")),
    ("primary", ("tiểu học",)),
)
_PRIVATE = ("tư thục", "dân lập", "quốc tế")


def _folded(name: str) -> str:
    return unicodedata.normalize("NFC", name).lower()


def guess_level(name: str) -> str:
    """The level a school's name states; "multi_level" when it states none."""
    folded = _folded(name)
    for level, words in _LEVEL_RULES:
        if any(word in folded for word in words):
            return level
    return "multi_level"


def guess_ownership(name: str) -> str:
    folded = _folded(name)
    return "private" if any(word in folded for word in _PRIVATE) else "public"


def guess_local_type(name: str) -> str:
    folded = _folded(name)
    if "phường" in folded:
        return "ward"
    if "đặc khu" in folded:
        return "special_zone"
    return "commune"
