"""The Vietnamese catalogue is complete, keeps its placeholders and is compiled.

Vietnamese is the default locale, so an English string that reaches a Vietnamese page is a bug.
The messages are extracted afresh from the source (in memory, with the mapping of babel.cfg and
the keywords of `make extract-messages`) rather than trusted from the committed .pot/.po.

To fix a failure: `make extract-messages`, translate the listed entries in
caseapp/translations/vi/LC_MESSAGES/messages.po (and drop any "fuzzy" flag), then
`.venv/bin/pybabel compile -d caseapp/translations -D messages`.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages import frontend
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "babel.cfg"
LC_MESSAGES = ROOT / "caseapp" / "translations" / "vi" / "LC_MESSAGES"
PO = LC_MESSAGES / "messages.po"
MO = LC_MESSAGES / "messages.mo"

# Babel's defaults (_, gettext, ngettext, pgettext, ...) plus Flask-Babel's lazy forms, as in
# the Makefile's `pybabel extract -k _l -k lazy_gettext`.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "_ln": (1, 2),
    "lazy_ngettext": (1, 2),
}

# %(name)s, %(n)d, %(max)d, %(ratio).1f ...; the whole token counts, so %(n)d is not %(n)s.
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]")

HOW_TO_FIX = (
    "Run `make extract-messages`, translate these entries in {po}, remove their "
    "'fuzzy' flag, then `.venv/bin/pybabel compile -d caseapp/translations -D messages`."
)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _key(msgid, context=None) -> tuple[str | None, str]:
    """The catalogue key: (context, singular msgid)."""
    return context, msgid[0] if isinstance(msgid, list | tuple) else msgid


def _show(key: tuple[str | None, str]) -> str:
    context, msgid = key
    return f"{msgid!r}" + (f" (context {context!r})" if context else "")


def _strings(message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, list | tuple) else (message.string,)


@cache
def _mapping() -> tuple[list, dict]:
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with MAPPING.open(encoding="utf-8") as fileobj:
        return parse(fileobj, filename=str(MAPPING))


@cache
def extracted() -> dict[tuple[str | None, str], list[str]]:
    """Every translatable message in the source: key -> where it is used."""
    method_map, options_map = _mapping()
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, lineno, msgid, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        if not msgid or not _key(msgid)[1]:
            continue
        found.setdefault(_key(msgid, context), []).append(f"{filename}:{lineno}")
    return found


@cache
def po_catalog() -> Catalog:
    with PO.open("rb") as fileobj:
        return read_po(fileobj, locale="vi", abort_invalid=True)


def _translated(catalog: Catalog) -> dict[tuple[str | None, str], tuple[str, ...]]:
    """What gettext would serve: translated, non-fuzzy entries."""
    return {
        _key(m.id, m.context): _strings(m)
        for m in catalog
        if m.id and not m.fuzzy and all(_strings(m))
    }


def test_extraction_finds_the_source_strings():
    found = extracted()
    # Guards against a broken mapping or keyword list silently extracting nothing.
    assert len(found) > 50, f"only {len(found)} messages extracted with {MAPPING}"
    assert (None, "Safe schools") in found
    assert (None, "Kind of service") in found  # a lazy_gettext (_l) string in a form


def test_catalogue_header_is_not_fuzzy():
    assert not po_catalog().fuzzy, (
        f"{PO} has a fuzzy header; pybabel compile would skip the whole catalogue"
    )


def test_every_source_string_is_translated():
    catalog = po_catalog()
    entries = {_key(m.id, m.context): m for m in catalog if m.id}
    problems = []
    for key, places in sorted(extracted().items(), key=lambda item: item[0][1].lower()):
        entry = entries.get(key)
        if entry is None:
            why = "not in the .po"
        elif entry.fuzzy:
            why = "fuzzy"
        elif not all(_strings(entry)):
            why = "empty msgstr"
        else:
            continue
        problems.append(f"  {_show(key)}: {why} (used at {places[0]})")
    assert not problems, (
        f"{len(problems)} message(s) without a Vietnamese translation:\n"
        + "\n".join(problems)
        + "\n"
        + HOW_TO_FIX.format(po=_rel(PO))
    )


def _placeholders(text: str) -> set[str]:
    return {match.group(0) for match in PLACEHOLDER.finditer(text)}


def _formats(text: str, names: set[str]) -> bool:
    """Whether `text % variables` works, as Flask-Babel and Jinja's newstyle gettext do it."""
    try:
        text % dict.fromkeys(names, 1)
    except (ValueError, TypeError, KeyError):
        return False
    return True


def test_placeholders_are_kept():
    problems = []
    for message in po_catalog():
        if not message.id:
            continue
        # With nplurals=1 the single Vietnamese form stands for the English plural.
        source = message.id[-1] if isinstance(message.id, list | tuple) else message.id
        wanted = _placeholders(source)
        names = {match.group(1) for match in PLACEHOLDER.finditer(source)}
        for string in filter(None, _strings(message)):
            where = _show(_key(message.id, message.context))
            if _placeholders(string) != wanted:
                problems.append(
                    f"  {where}: expects {sorted(wanted)}, "
                    f"msgstr has {sorted(_placeholders(string))}"
                )
            elif _formats(source, names) and not _formats(string, names):
                problems.append(
                    f"  {where}: msgstr {string!r} cannot be %-formatted "
                    "(write a literal percent sign as %%)"
                )
    assert not problems, "Placeholders differ between msgid and msgstr:\n" + "\n".join(problems)


def test_compiled_catalogue_matches_the_po():
    if not MO.exists():
        pytest.fail(f"{_rel(MO)} is missing; run `make translations`")
    with MO.open("rb") as fileobj:
        compiled = _translated(read_mo(fileobj))
    source = _translated(po_catalog())
    stale = sorted(
        (k for k in source.keys() | compiled.keys() if source.get(k) != compiled.get(k)),
        key=lambda k: k[1].lower(),
    )
    assert not stale, (
        f"{_rel(MO)} is out of date for {len(stale)} message(s):\n"
        + "\n".join(f"  {_show(k)}" for k in stale[:40])
        + "\nRun `.venv/bin/pybabel compile -d caseapp/translations -D messages`."
    )
