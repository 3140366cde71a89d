"""One door to case content: no module of caseapp/ decrypts case content or unwraps a case's data
key except caseapp/services/cases/content.py (which checks, audits and decrypts in one call) and
the few places listed below. Walks the AST of every module, so a new decrypting helper anywhere
fails here, whatever it is called."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import caseapp

ROOT = Path(caseapp.__file__).parent

# What decrypts case content or hands out a case's data key.
DECRYPTING = frozenset({"open_text", "open_file", "unwrap_data_key", "data_key", "_data_key"})
# Unwraps anything sealed with the keyring; a case key when the call names one.
UNWRAPPING = "unseal_with_keyring"
CASE_KEY_MARKS = frozenset({"wrapped_key", "data_key"})

ALLOWED = {
    # The one door: opens content for an actor and a reason, audited; the Sealer of the
    # writing services.
    "caseapp/services/cases/content.py": DECRYPTING | {UNWRAPPING},
    # Where the mechanisms are defined (unwrap_data_key calls unseal_with_keyring).
    "caseapp/security/envelope.py": DECRYPTING | {UNWRAPPING},
    "caseapp/security/crypto.py": frozenset({UNWRAPPING}),
    # Key rotation rewraps every case's data key under the new key-encryption key; the data
    # key itself never leaves the function and nothing sealed under it is opened.
    "caseapp/services/keys/rotation.py": frozenset({UNWRAPPING}),
    # A request from a data subject has its own data key (wrapped like a case's): this module
    # opens only that request's fields and export, never a case's (issue 15 part 1).
    "caseapp/services/privacy/request_seal.py": frozenset({"open_text", UNWRAPPING}),
    # A self-report has its own data key (wrapped like a case's): this module opens only that
    # report's fields, messages and photos, never a case's (issue 14).
    "caseapp/services/selfreports/seal.py": frozenset({"open_text", "open_file", UNWRAPPING}),
    # The audit text keys (AuditTextKey.wrapped_key) that seal the reasons of the trail: never
    # a case's data key, and nothing of the case's content is opened with them.
    "caseapp/services/audit/sealed_text.py": frozenset({UNWRAPPING}),
    # Crypto-shredding (intake.destroy_content) forgets the wrapped key without unwrapping it,
    # so it needs no entry here.
}


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    if (
        isinstance(func, ast.Call)
        and _called_name(func) == "getattr"
        and len(func.args) > 1
        and isinstance(func.args[1], ast.Constant)
    ):
        return str(func.args[1].value)  # getattr(envelope, "open_text")(...)
    return None


def _names_case_key(node: ast.Call) -> bool:
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Attribute) and sub.attr in CASE_KEY_MARKS:
                return True
            if isinstance(sub, ast.Name) and sub.id in CASE_KEY_MARKS:
                return True
            if isinstance(sub, ast.Constant) and sub.value in CASE_KEY_MARKS:
                return True
    return False


def decrypting_calls(source: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """``name:line`` of every call (or import under another name) that decrypts case content."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                # Imported under another name, a call would no longer show what it is.
                if (
                    alias.name in DECRYPTING | {UNWRAPPING}
                    and alias.asname
                    and alias.name not in allowed
                ):
                    found.append(f"import {alias.name} as {alias.asname}:{node.lineno}")
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in allowed:
                continue
            if name in DECRYPTING or (name == UNWRAPPING and _names_case_key(node)):
                found.append(f"{name}:{node.lineno}")
    return found


def _modules():
    return sorted(ROOT.rglob("*.py"))


def test_the_walk_sees_the_whole_package():
    names = {p.relative_to(ROOT.parent).as_posix() for p in _modules()}
    assert set(ALLOWED) <= names  # an allowed module that moved must be listed again
    assert len(names) > 50


def test_nothing_outside_the_content_module_decrypts_case_content():
    offenders = {}
    for path in _modules():
        rel = path.relative_to(ROOT.parent).as_posix()
        calls = decrypting_calls(path.read_text(encoding="utf-8"), ALLOWED.get(rel, frozenset()))
        if calls:
            offenders[rel] = calls
    assert not offenders, (
        "case content decrypted outside caseapp/services/cases/content.py (open it with "
        f"content.open_content / open_attachment, seal through content.sealer): {offenders}"
    )


@pytest.mark.parametrize(
    "source",
    [
        # A helper that decrypts a note without an actor, leaving the audit to its caller.
        "from caseapp.security import envelope\n"
        "def note_body(dek, note, ad):\n    return envelope.open_text(dek, note.body, ad)\n",
        "from caseapp.services.cases.content import data_key\n"
        "def key(case):\n    return data_key(case)\n",
        "from caseapp.security.envelope import open_file as stream\n",
        "def files(dek, handle, ad):\n    return getattr(envelope, 'open_file')(dek, handle, ad)\n",
        "def key(ring, case, ad):\n    return unseal_with_keyring(ring, case.wrapped_key, ad)\n",
        "def key(ring, case):\n    return envelope.unwrap_data_key(ring, case.wrapped_key, 'x')\n",
    ],
)
def test_a_decrypting_helper_anywhere_is_found(source):
    assert decrypting_calls(source)


def test_sealing_and_other_keyring_secrets_are_not_decrypting():
    source = (
        "def write(case, body):\n    return sealer(case).seal('case_notes', 'u', 'body', body)\n"
        "def totp(ring, user, ad):\n    return unseal_with_keyring(ring, user.totp_secret, ad)\n"
    )
    assert decrypting_calls(source) == []
