"""Every route of the cases blueprint that changes a case declares a write permission: never
"case.read", which every reader of a case holds (issue 10, section 2)."""

from __future__ import annotations

from caseapp.access import declared_permission
from caseapp.security.authz import roles_with

# POSTs that change nothing: stating a reason to read the content or to download a file (the
# read is audited, but the case is not changed).
READS = {"cases.confidential", "cases.download"}
WRITE_PERMISSIONS = {"case.write", "case.oversee", "case.change"}


def test_routes_that_change_a_case_declare_a_write_permission(app):
    changing = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("cases.") and "POST" in rule.methods
    } - READS
    assert {"cases.add_note", "cases.add_step", "cases.transition", "cases.assign"} <= changing
    wrong = {
        e: declared_permission(app, e)
        for e in sorted(changing)
        if declared_permission(app, e) not in WRITE_PERMISSIONS
    }
    assert not wrong, f"routes that change a case but declare no write permission: {wrong}"


def test_only_the_roles_that_handle_or_oversee_cases_may_change_them():
    assert (
        set(roles_with("case.change"))
        == set(roles_with("case.write")) | set(roles_with("case.oversee"))
        == {"focal_point", "officer"}
    )
