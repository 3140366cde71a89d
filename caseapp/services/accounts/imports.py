"""Importing accounts from a table (XLSX or CSV), in the enrolment-code flow.

A dry run reports every line; the import itself is all or nothing. Each new account is created
without any password and receives part 1 of an enrolment code (printed letters for the
importer); every role asked for (focal point or officer: the others need a request of their
own) and every new account waits in ONE request of kind "batch" that a second administrator
approves: the grants then take effect and the approver receives part 2 of each new account's
code. Running the same file again creates nothing twice: an existing account at the same unit
gets its name and e-mail updated and the roles it neither holds nor waits for; nothing is ever
removed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from caseapp.db import utcnow
from caseapp.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from caseapp.labels import role_names
from caseapp.models import ApprovalRequest, EnrolmentCode, Grant, Unit, User
from caseapp.models.users import ROLES, USERNAME_PATTERN
from caseapp.security import passwords
from caseapp.security.authz import covers
from caseapp.services.accounts import approvals, auth, duties, enrolment
from caseapp.services.accounts import users as user_service
from caseapp.services.audit.trail import record
from caseapp.services.org.imports import value_table
from caseapp.services.org.sheets import (
    Column,
    ImportReport,
    LineResult,
    file_bytes,
    read_table,
    template,
)

COLUMNS = (
    Column("username", "Tên đăng nhập", ("user name", "username", "login")),
    Column("full_name", "Họ và tên", ("full name", "name", "ho ten")),
    Column("email", "Email", ("e-mail", "thu dien tu"), required=False),
    Column("unit", "Mã đơn vị", ("unit code", "unit")),
    Column("role", "Vai trò", ("role",)),
    Column("role_unit", "Mã đơn vị của vai trò", ("role unit code", "role unit"), required=False),
)
HEADING = {c.key: c.heading for c in COLUMNS}
# The roles an import may ask for; the others (administrator, auditor) each need a request of
# their own, looked at one by one.
IMPORTED_ROLES = ("focal_point", "officer")
_ROLE_WORDS = {
    "focal_point": ("dau moi", "can bo dau moi", "focal"),
    "officer": ("can bo quan ly", "quan ly"),
    "admin": ("quan tri", "quan tri vien", "administrator"),
    "auditor": ("kiem tra", "kiem toan", "thanh tra"),
}


@dataclass
class _Line:
    line: int
    username: str
    full_name: str
    email: str
    unit_code: str
    role: str
    role_unit_code: str
    problem: tuple[str, str] | None = None
    action: str = ""
    user: User | None = None
    unit: Unit | None = None
    role_unit: Unit | None = None
    new: bool = False
    grant: bool = False
    profile: bool = False


@dataclass(frozen=True)
class Imported:
    """An applied file: its report, the batch request (None when nothing waits for approval)
    and the part-1 letters of the new accounts (ordered by unit, then name)."""

    report: ImportReport
    request: ApprovalRequest | None = None
    letters: tuple[enrolment.Letter, ...] = field(default_factory=tuple)


class _Problem(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column, self.reason = column, reason


def _read(number: int, row: dict[str, str], roles: dict[str, str]) -> _Line:
    line = _Line(
        number,
        auth.normalise_username(row["username"]),
        row["full_name"].strip(),
        row["email"].strip().lower(),
        row["unit"].strip().upper(),
        "",
        (row["role_unit"] or row["unit"]).strip().upper(),
    )
    try:
        if not re.match(USERNAME_PATTERN, line.username):
            raise _Problem(
                "username", _("A user name has 3 to 64 lower-case letters, digits, . _ or -.")
            )
        try:
            user_service._check_profile(line.full_name, "")
        except ValidationFailed as exc:
            raise _Problem("full_name", exc.message) from None
        try:
            user_service._check_profile("-", line.email)
        except ValidationFailed as exc:
            raise _Problem("email", exc.message) from None
        if not line.unit_code:
            raise _Problem("unit", _("This value is required."))
        text = row["role"].strip()
        if not text:
            raise _Problem("role", _("This value is required."))
        role = roles.get(_fold(text))
        if role is None:
            raise _Problem(
                "role",
                _(
                    "“%(value)s” is not a value of this column; see the sheet “Hướng dẫn” of "
                    "the template.",
                    value=text[:40],
                ),
            )
        if role not in IMPORTED_ROLES:
            raise _Problem(
                "role",
                _(
                    "The role “%(role)s” cannot be imported: it needs a separate request, "
                    "made on the account's page and approved on its own.",
                    role=role_names().get(role, role),
                ),
            )
        line.role = role
    except _Problem as problem:
        line.problem = (problem.column, problem.reason)
    return line


def _fold(text: str) -> str:
    from caseapp.services.org.sheets import fold

    return fold(text)


def _chunks(values: Iterable, size: int = 500) -> Iterable[list]:
    ordered = sorted(v for v in values if v)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _units(session: Session, codes: set[str]) -> dict[str, Unit]:
    found: dict[str, Unit] = {}
    for chunk in _chunks(codes):
        for unit in session.scalars(select(Unit).where(Unit.code.in_(chunk))):
            found[unit.code] = unit
    return found


def _users(session: Session, names: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in _chunks(names):
        for user in session.scalars(
            select(User)
            .options(selectinload(User.grants).selectinload(Grant.unit), selectinload(User.unit))
            .where(User.username.in_(chunk))
        ):
            found[user.username] = user
    return found


def _asked(session: Session, user_ids: set[int]) -> set[tuple[int, str, int]]:
    """(user id, role, unit id) of every grant that waits for approval for ``user_ids``: in a
    request of its own or in a batch."""
    asked: set[tuple[int, str, int]] = set()
    if not user_ids:
        return asked
    pending = list(
        session.scalars(
            select(ApprovalRequest).where(
                ApprovalRequest.status == "pending",
                ApprovalRequest.expires_at > utcnow(),
                ApprovalRequest.kind.in_(("grant", "new_account", "batch")),
            )
        )
    )
    for req in pending:
        wanted = approvals.payload(req)
        if req.kind == "batch":
            for line in wanted.get("lines") or []:
                if isinstance(line, dict) and line.get("user_id") in user_ids:
                    asked.add((line["user_id"], str(line.get("role")), line.get("unit_id") or 0))
        elif req.subject_user_id in user_ids:
            asked.add((req.subject_user_id, str(wanted.get("role")), wanted.get("unit_id") or 0))
    return asked


def _without_way_in(session: Session, users: Iterable[User]) -> set[int]:
    """Ids of the accounts among ``users`` whose person cannot get in: no password, no
    authenticator, and no code completed or used."""
    candidates = {
        u.id for u in users if passwords.is_unusable(u.password_hash) and u.totp_enrolled_at is None
    }
    if not candidates:
        return set()
    reached: set[int] = set()
    for chunk in _chunks(candidates):
        reached.update(
            session.scalars(
                select(EnrolmentCode.user_id).where(
                    EnrolmentCode.user_id.in_(chunk),
                    EnrolmentCode.revoked_at.is_(None),
                    or_(EnrolmentCode.used_at.is_not(None), EnrolmentCode.second_hash.is_not(None)),
                )
            )
        )
    return candidates - reached


def _plan(session: Session, actor: User, rows: list[tuple[int, dict[str, str]]]) -> list[_Line]:
    roles = value_table(ROLES, role_names, _ROLE_WORDS)
    lines = [_read(number, row, roles) for number, row in rows]
    units = _units(session, {ln.unit_code for ln in lines} | {ln.role_unit_code for ln in lines})
    users = _users(session, {ln.username for ln in lines if ln.problem is None})
    asked = _asked(session, {u.id for u in users.values()})
    waiting = _without_way_in(session, users.values())
    first: dict[str, int] = {}
    for line in lines:
        if line.problem is not None:
            continue
        if line.username in first:
            line.problem = (
                "username",
                _(
                    "The user name %(name)s is already on line %(line)d.",
                    name=line.username,
                    line=first[line.username],
                ),
            )
            continue
        first[line.username] = line.line
        try:
            _check_line(actor, line, units, users, asked, waiting)
        except _Problem as problem:
            line.problem = (problem.column, problem.reason)
    return lines


def _in_scope(actor: User, units: dict[str, Unit], code: str, column: str) -> Unit:
    unit = units.get(code)
    if unit is None or not covers(actor, "admin.users", unit):
        raise _Problem(
            column, _("No unit with the code %(code)s within your units.", code=code[:20])
        )
    return unit


def _check_line(
    actor: User,
    line: _Line,
    units: dict[str, Unit],
    users: dict[str, User],
    asked: set[tuple[int, str, int]],
    waiting: set[int],
) -> None:
    line.unit = _in_scope(actor, units, line.unit_code, "unit")
    line.role_unit = _in_scope(actor, units, line.role_unit_code, "role_unit")
    if not line.unit.is_open:
        raise _Problem("unit", _("The unit %(code)s is closed.", code=line.unit.code))
    if not line.role_unit.is_open:
        raise _Problem("role_unit", _("A closed unit cannot receive new grants."))
    user = users.get(line.username)
    if user is None:
        line.new = line.grant = True
        line.action = "create"
        return
    line.user = user
    if user.unit_id != line.unit.id or not covers(actor, "admin.users", user.unit):
        raise _Problem(
            "username", _("The user name %(name)s is already taken.", name=line.username)
        )
    if user.id == actor.id:
        raise _Problem(
            "username", _("You cannot change your own access; ask another administrator.")
        )
    if not all(covers(actor, "admin.users", g.unit) for g in user.active_grants):
        raise _Problem("username", _("You do not have permission to do this."))
    line.profile = user.full_name != line.full_name or bool(line.email and user.email != line.email)
    held = any(g.role == line.role and g.unit_id == line.role_unit.id for g in user.active_grants)
    if not held and (user.id, line.role, line.role_unit.id) not in asked:
        problem = duties.separation_problem(user.roles(), line.role)
        if problem:
            raise _Problem("role", problem)
        line.grant = True
        # An account of an earlier import that was rejected, withdrawn or let expire: its
        # person never got in, so it gets a new code with this batch.
        line.new = user.id in waiting
    line.action = "update" if line.profile or line.grant else "unchanged"


def _batch_unit(session: Session, actor: User, lines: list[_Line]) -> Unit | None:
    """The unit the batch belongs to: the lowest covering every account and role unit of it.
    The importer must administer it (approvals._common_unit)."""
    units = [u for ln in lines if ln.grant for u in (ln.unit, ln.role_unit) if u is not None]
    if not units:
        return None
    return approvals._common_unit(session, actor, *units)


def _report(lines: list[_Line], sha256: str, applied: bool = False) -> ImportReport:
    results = []
    for line in lines:
        if line.problem is not None:
            column, reason = line.problem
            results.append(LineResult(line.line, "error", line.username, HEADING[column], reason))
        else:
            results.append(LineResult(line.line, line.action, line.username))
    return ImportReport(tuple(results), sha256, applied)


def _checked(
    session: Session, actor: User, data: bytes | BinaryIO, filename: str
) -> tuple[list[_Line], ImportReport, Unit | None]:
    data = file_bytes(data)
    rows = read_table(data, filename, COLUMNS)
    sha256 = hashlib.sha256(data).hexdigest()
    lines = _plan(session, actor, rows)
    report = _report(lines, sha256)
    scope = None
    if report.ok:
        try:
            scope = _batch_unit(session, actor, lines)
        except DomainError as exc:
            first = next(ln for ln in lines if ln.grant)
            first.problem = ("unit", exc.message)
            report = _report(lines, sha256)
    return lines, report, scope


def check(session: Session, actor: User, data: bytes | BinaryIO, filename: str) -> ImportReport:
    """The dry run: what importing the file would do, line by line. Changes nothing."""
    return _checked(session, actor, data, filename)[1]


def apply(
    session: Session, actor: User, data: bytes | BinaryIO, filename: str, reason: str = ""
) -> Imported:
    """Import the file (checked again: with any error nothing is written). New accounts are
    created without a password, each with part 1 of an enrolment code; the grants and new
    accounts wait in one batch request. Audited: one ``approval.request``, one
    ``import.accounts``, and per line ``user.create``/``auth.enrolment_issued`` (or
    ``user.update``) naming the batch and the line."""
    lines, report, scope = _checked(session, actor, data, filename)
    if not report.ok:
        return Imported(report)
    now = utcnow()
    req = None
    why = (reason or "").strip() or _(
        "Import of accounts from the file %(name)s", name=filename[:100]
    )
    if scope is not None:
        req = ApprovalRequest(
            kind="batch",
            status="pending",
            unit_id=scope.id,
            payload="{}",
            reason=approvals.seal_reason(session, None, why),
            requested_by_id=actor.id,
            requested_at=now,
            expires_at=now + approvals.EXPIRES_AFTER,
        )
        session.add(req)
        session.flush()
    letters: list[enrolment.Letter] = []
    wanted: list[dict] = []
    with session.no_autoflush:  # each event flushes its own change (see carry_out_batch)
        _write_lines(session, actor, lines, req, letters, wanted)
    counts = report.counts
    if req is not None:
        req.payload = json.dumps(
            {"lines": wanted, "file_sha256": report.sha256, "counts": counts},
            sort_keys=True,
            ensure_ascii=False,
        )
        record(
            session,
            actor,
            "approval.request",
            req,
            unit=scope,
            reason=why,
            changes={
                "kind": "batch",
                "file_sha256": report.sha256,
                "lines": len(wanted),
                "new_accounts": sum(1 for w in wanted if w["new"]),
                # Who is put forward for which role, line by line: the trail keeps it even if
                # the batch is rejected or expires (the payload column is not part of it).
                "grants": [[w["line"], w["username"], w["role"], w["unit"]] for w in wanted],
            },
        )
    record(
        session,
        actor,
        "import.accounts",
        unit=scope or _top(actor),
        object_type="approval_requests" if req is not None else "users",
        object_id=str(req.id) if req is not None else "",
        object_ref=filename[:100],
        changes={
            "file_sha256": report.sha256,
            "lines": len(lines),
            "batch": req.id if req is not None else None,
            **counts,
        },
    )
    letters.sort(key=lambda letter: (letter.unit, letter.full_name, letter.username))
    return Imported(ImportReport(report.lines, report.sha256, True), req, tuple(letters))


def _write_lines(
    session: Session,
    actor: User,
    lines: list[_Line],
    req: ApprovalRequest | None,
    letters: list[enrolment.Letter],
    wanted: list[dict],
) -> None:
    """The accounts of an import written (after every check passed): new ones with part 1 of
    their code (into ``letters``), changed ones updated; the grants asked into ``wanted``."""
    for line in lines:
        note = {"batch": req.id, "line": line.line} if req is not None else {"line": line.line}
        assert line.unit is not None and line.role_unit is not None
        user = line.user
        if line.new and user is None:
            user, _none = user_service.create_user(
                session, actor, line.username, line.full_name, line.email, line.unit, note=note
            )
        if line.new and user is not None:
            letters.append(
                enrolment.issue_first_half(
                    session, actor, user, "new_account", approval=req, note=note
                )
            )
        elif line.profile and user is not None:
            user_service.update_user(
                session,
                actor,
                user,
                line.full_name,
                line.email or user.email,
                user.version,
                note=note,
            )
        if line.grant and user is not None:
            wanted.append(
                {
                    "line": line.line,
                    "user_id": user.id,
                    "username": user.username,
                    "role": line.role,
                    "unit_id": line.role_unit.id,
                    "unit": line.role_unit.code,
                    "new": line.new,
                }
            )


def _top(actor: User) -> Unit | None:
    units = [g.unit for g in actor.active_grants if g.role == "admin"]
    return min(units, key=lambda u: len(u.path)) if units else actor.unit


# Approving a batch ---------------------------------------------------------------------------


def _line_error(line: dict, message: str) -> str:
    return _(
        "Line %(line)d (%(name)s): %(reason)s",
        line=int(line.get("line") or 0),
        name=str(line.get("username") or ""),
        reason=message,
    )


def carry_out_batch(
    session: Session, approver: User, req: ApprovalRequest
) -> list[enrolment.Letter]:
    """The approval of a batch (approvals.approve calls it): every line re-checked and its
    grant written; each new account's code completed with part 2, for the approver. Any line
    that no longer holds stops the whole approval (nothing changes)."""
    lines = [ln for ln in approvals.payload(req).get("lines") or [] if isinstance(ln, dict)]
    requester = req.requested_by
    decide = approvals.DECIDE
    if not covers(approver, decide, req.unit):
        raise Forbidden(_("This account is beyond the units you may decide for."))
    if approver.id in approvals.batch_user_ids(req) or approver.id == req.requested_by_id:
        raise Forbidden(_("You cannot decide this request."))
    ids = {ln.get("user_id") for ln in lines}
    # The accounts are locked first (grants to one account are decided one at a time, as
    # users.check_grant does for one), then read with their grants as they are now.
    for chunk in _chunks(ids):
        session.execute(select(User.id).where(User.id.in_(chunk)).with_for_update())
    users = {
        u.id: u
        for chunk in _chunks(ids)
        for u in session.scalars(
            select(User)
            .options(selectinload(User.grants).selectinload(Grant.unit), selectinload(User.unit))
            .where(User.id.in_(chunk))
            .execution_options(populate_existing=True)
        )
    }
    unit_ids = {ln.get("unit_id") for ln in lines}
    units = {
        u.id: u
        for chunk in _chunks(unit_ids)
        # Held like one grant holds its unit (users.check_grant): a unit closing meanwhile
        # waits, or is seen closed here.
        for u in session.scalars(
            select(Unit)
            .where(Unit.id.in_(chunk))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    letters: list[enrolment.Letter] = []
    # Every event flushes its own change; the queries of each line are about that line's
    # account alone, so they need not flush the others first (thousands of flushes saved).
    with session.no_autoflush:
        for line in sorted(lines, key=lambda ln: int(ln.get("line") or 0)):
            letter = _approve_line(session, approver, requester, line, users, units)
            if letter is not None:
                letters.append(letter)
    letters.sort(key=lambda letter: (letter.unit, letter.full_name, letter.username))
    return letters


def _approve_line(
    session: Session,
    approver: User,
    requester: User | None,
    line: dict,
    users: dict[int, User],
    units: dict[int, Unit],
) -> enrolment.Letter | None:
    """One line of a batch approved: checked again as users.check_grant checks a grant (the
    account was locked and read by carry_out_batch), granted, and for a new account part 2 of
    its code."""
    decide = approvals.DECIDE
    user = users.get(line.get("user_id"))  # type: ignore[arg-type]
    unit = units.get(line.get("unit_id"))  # type: ignore[arg-type]
    if user is None or unit is None:
        raise NotFound()
    if not (
        covers(approver, decide, user.unit)
        and covers(approver, decide, unit)
        and all(covers(approver, decide, g.unit) for g in user.active_grants)
    ):
        raise Forbidden(
            _line_error(line, _("This account is beyond the units you may decide for."))
        )
    if requester is not None and not (
        covers(requester, "admin.users", user.unit) and covers(requester, "admin.users", unit)
    ):
        raise Conflict(
            _line_error(
                line,
                _(
                    "The person who asked no longer administers this account or this unit: "
                    "this request cannot be approved. Reject it; ask again if it is still "
                    "needed."
                ),
            )
        )
    role = str(line.get("role") or "")
    if role not in IMPORTED_ROLES:
        raise Conflict(_line_error(line, _("Unknown role.")))
    if not unit.is_open:
        raise ValidationFailed(_line_error(line, _("A closed unit cannot receive new grants.")))
    if any(g.role == role and g.unit_id == unit.id for g in user.active_grants):
        raise Conflict(_line_error(line, _("This account already holds that role at that unit.")))
    problem = duties.separation_problem(user.roles(), role)
    if problem:
        raise ValidationFailed(_line_error(line, problem))
    user_service.apply_grant(session, approver, user, role, unit, requested_by=requester)
    if not line.get("new"):
        return None
    try:
        return enrolment.release_second_half(session, approver, user)
    except LookupError:
        raise Conflict(
            _line_error(
                line, _("This account's enrolment code was replaced or withdrawn. Ask again.")
            )
        ) from None


def batch_of(session: Session, user: User) -> ApprovalRequest | None:
    """The latest batch (import of accounts) that ``user``'s account was created or changed
    in, for the account's page."""
    found = session.scalar(
        select(ApprovalRequest)
        .join(EnrolmentCode, EnrolmentCode.approval_id == ApprovalRequest.id)
        .where(EnrolmentCode.user_id == user.id, ApprovalRequest.kind == "batch")
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )
    if found is not None:
        return found
    for req in session.scalars(
        select(ApprovalRequest)
        .where(ApprovalRequest.kind == "batch", ApprovalRequest.status == "pending")
        .order_by(ApprovalRequest.id.desc())
    ):
        if user.id in approvals.batch_user_ids(req):
            return req
    return None


def batch_lines(req: ApprovalRequest) -> list[dict]:
    """The lines of a batch, in file order (for its approval page)."""
    lines = approvals.payload(req).get("lines")
    return sorted(
        (ln for ln in (lines if isinstance(lines, list) else []) if isinstance(ln, dict)),
        key=lambda ln: int(ln.get("line") or 0),
    )


def template_rows() -> list[dict[str, object]]:
    return [
        {
            "username": "nguyen.van.an",
            "full_name": "Nguyễn Văn An",
            "email": "an.nguyen@example.edu.vn",
            "unit": "TH-HOAAN",
            "role": "Cán bộ đầu mối",
        },
        {
            "username": "tran.thi.binh",
            "full_name": "Trần Thị Bình",
            "email": "",
            "unit": "X-HOAAN",
            "role": "Cán bộ quản lý",
            "role_unit": "X-HOAAN",
        },
    ]


def template_notes() -> list[tuple[str, str]]:
    names = role_names()
    return [
        (HEADING["username"], _("3 to 64 lower-case letters, digits, . _ or -; unique.")),
        (HEADING["full_name"], _("The person's full name.")),
        (HEADING["email"], _("Optional.")),
        (HEADING["unit"], _("The code of the person's unit (their home unit).")),
        (
            HEADING["role"],
            "; ".join(f"{names[r]} ({r})" for r in IMPORTED_ROLES)
            + " — "
            + _(
                "administrators and auditors are appointed one by one, each with a request "
                "of its own."
            ),
        ),
        (
            HEADING["role_unit"],
            _("Optional: the unit where the role applies; empty: the home unit."),
        ),
        (
            _("What happens"),
            _(
                "Each new account gets an enrolment code in two parts: you print part 1 now; "
                "the administrator who approves the import prints part 2. No password is ever "
                "in a file. Running the file again creates nothing twice and removes nothing."
            ),
        ),
    ]


def template_file() -> bytes:
    """The XLSX template to fill in (headings, sample lines, the sheet "Hướng dẫn")."""
    return template(COLUMNS, template_rows(), template_notes())


__all__ = [
    "template_file",
    "COLUMNS",
    "IMPORTED_ROLES",
    "Imported",
    "apply",
    "batch_lines",
    "batch_of",
    "carry_out_batch",
    "check",
    "template_notes",
    "template_rows",
]
