"""Views of the admin, reports, dashboard, account and equality blueprints only read the form,
call a service and render or redirect: no hand-written DomainError handling (carry_out does it), no
query, no unit lookup or subtree filter of their own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CASEAPP = Path(__file__).resolve().parents[2] / "caseapp"
BLUEPRINTS = ("admin", "reports", "dashboard", "account", "equality", "privacy")
VIEW_FILES = sorted(
    p
    for bp in BLUEPRINTS
    for p in (CASEAPP / bp).glob("*.py")
    if p.name not in ("__init__.py", "forms.py")
)
DOMAIN_ERRORS = {
    "DomainError",
    "NotFound",
    "Forbidden",
    "Conflict",
    "InvalidTransition",
    "ValidationFailed",
    "WrongCurrentPassword",
}
QUERY_CALLS = {"scalar", "scalars", "execute", "query"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    return {
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    }


def _id(path: Path) -> str:
    return str(path.relative_to(CASEAPP))


@pytest.mark.parametrize("path", VIEW_FILES, ids=_id)
def test_no_view_catches_a_domain_error_itself(path):
    caught = [
        node.lineno
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.ExceptHandler) and _names(node.type) & DOMAIN_ERRORS
    ]
    assert not caught, f"use caseapp.form_submit.carry_out (lines {caught})"


@pytest.mark.parametrize("path", VIEW_FILES, ids=_id)
def test_no_view_writes_a_query(path):
    tree = _tree(path)
    imports = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
    }
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in QUERY_CALLS
    ]
    assert not imports, f"sqlalchemy imported in a view: {imports}"
    assert not calls, f"a query in a view (lines {calls}): move it to a service"


@pytest.mark.parametrize("path", VIEW_FILES, ids=_id)
def test_no_view_looks_a_unit_up_in_scope_itself(path):
    """One unit_in_scope(session, user, code, permission) in services/org/units.py."""
    text = path.read_text(encoding="utf-8")
    assert "unit_by_code" not in text
    assert not re.search(r"def \w*unit\w*in_scope", text)


# The subtree filter "path lies below one of the user's units": written once, as
# security.authz.scope_filter.
SUBTREE_FILTER = re.compile(r"startswith\(\w+\)\s+for\s+\w+\s+in\s+\w*paths")


def test_the_subtree_filter_is_written_once():
    copies = {
        _id(p)
        for p in CASEAPP.rglob("*.py")
        if SUBTREE_FILTER.search(p.read_text(encoding="utf-8"))
    }
    assert copies == {"security/authz.py"}
