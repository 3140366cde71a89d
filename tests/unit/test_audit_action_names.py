"""Every action the code records has a name auditors read in their language (the audit screens
show the name, the code beside it)."""

from __future__ import annotations

import re
from pathlib import Path

import caseapp
from caseapp import create_app
from caseapp.labels import audit_action_names
from config import load_settings

RECORDED = re.compile(r"\brecord\(\s*[\w.]+,\s*[^,()]+,\s*\"([a-z_]+\.[a-z_]+)\"")


def _recorded_actions() -> set[str]:
    root = Path(caseapp.__file__).parent
    return {m for path in root.rglob("*.py") for m in RECORDED.findall(path.read_text())}


def test_every_recorded_action_has_a_name(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    found = _recorded_actions()
    assert {"case.create", "auth.login", "user.grant", "report.export"} <= found  # sees them
    app = create_app(load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path)}))
    with app.test_request_context():
        names = audit_action_names()
    assert sorted(found - names.keys()) == []


def test_action_names_have_their_own_message_context(tmp_path, monkeypatch):
    """An action shares no translation with a label of the same English text: the trail once
    read "Đổi mật khẩu lần cuối" (the label of a date) for a password change."""
    from flask_babel import force_locale

    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    app = create_app(load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path)}))
    with app.test_request_context(), force_locale("vi"):
        names = audit_action_names()
    assert names["auth.password_changed"] == "Đã đổi mật khẩu"
    assert names["auth.login"] == "Đã đăng nhập"
    untranslated = sorted(code for code, name in names.items() if name.isascii())
    assert untranslated == []
    # Two actions never read the same, so the name alone tells them apart.
    by_name: dict[str, list[str]] = {}
    for code, name in names.items():
        by_name.setdefault(name, []).append(code)
    assert {n: c for n, c in by_name.items() if len(c) > 1} == {}
