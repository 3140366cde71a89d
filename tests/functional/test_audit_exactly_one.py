"""Every audited POST endpoint (the registry AUDITED_POSTS of test_audit_sweep), given one valid
change, writes exactly one audit event of its action, plus only the companions declared here
(the end of the sessions a change of access ends, for instance): never none, never two."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from caseapp.clock import local_today
from caseapp.models import Case, Unit, User
from caseapp.runtime import keyring
from caseapp.security import totp
from caseapp.services.accounts import approvals, enrolment, users
from caseapp.services.cases import intake as cases
from caseapp.services.cases import records as case_records
from caseapp.services.cases import steps as step_service
from caseapp.services.cases.steps import StepInput
from caseapp.services.equality import plans
from caseapp.services.org import referrals, units
from caseapp.services.reports import activities, activity_materials
from caseapp.services.reports import periods as reports
from caseapp.services.reports.activities import ActivityInput
from tests.factories import (
    PASSWORD,
    Person,
    complete_work_report,
    csrf_from,
    make_user,
    open_session_for,
    sign_in_client,
)
from tests.functional.admin_support import audit_head, events_after
from tests.functional.case_attack_support import case_details
from tests.functional.case_support import intake_form
from tests.functional.selfreport_support import code_of, report_fields, token_of
from tests.functional.signin_support import steady_counter
from tests.functional.test_audit_sweep import AUDITED_POSTS

# A URL no rule matches: its 404 page carries the language form, hence a CSRF token.
TOKEN_PAGE = "/__no_such_page__"
SECRET_RE = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
REASON = "Lý do kiểm thử hợp lệ"
SESSIONS_ENDED = "auth.sessions_revoked"


@dataclass
class Post:
    """The one request of a recipe, and the events allowed besides the endpoint's action."""

    url: str
    data: dict = field(default_factory=dict)
    companions: tuple[str, ...] = ()


class Ctx:
    """What a recipe prepares with: the world, the test's session and the client to post with.
    Preparation goes through the services and is committed before the request."""

    def __init__(self, app, db, world, client) -> None:
        self.app, self.db, self.world, self.client = app, db, world, client
        self.today = local_today().isoformat()

    def sign_in(self, name: str, second_factor: bool = True) -> Person:
        person = self.world[name]
        sign_in_client(self.client, self.db, person, second_factor)
        return person

    def user(self, name: str) -> User:
        return self.db.get(User, self.world[name].id)

    def unit(self, code: str) -> Unit:
        return self.db.get(Unit, self.world.units[code])

    def commit(self) -> None:
        self.db.commit()

    def target(self) -> User:
        """A fresh focal point of SCH-A holding a live session (so a change of their access
        ends it, which is audited as a companion event)."""
        person = make_user(
            self.db,
            keyring(),
            "muc.tieu",
            self.unit("SCH-A"),
            [("focal_point", self.unit("SCH-A"))],
        )
        open_session_for(self.db, person.id)
        self.commit()
        return self.db.get(User, person.id)

    def new_unit(self, code: str, kind: str = "school", parent: str = "D1") -> Unit:
        made = units.create_unit(self.db, None, self.unit(parent), code, f"Đơn vị {code}", kind)
        self.commit()
        return made

    def case(self) -> Case:
        made = cases.create_case(
            self.db,
            self.user("focal_a"),
            self.unit("SCH-A"),
            case_details(),
            cases.CaseContent(harmed_name="Lê Thị Thu"),
        )
        self.commit()
        return made


# --- recipes: endpoint -> prepare, sign in, and say what to post -----------------------------


def _change_password(c: Ctx) -> Post:
    c.sign_in("focal_a")
    new = "một mật khẩu mới đủ dài 2025"
    return Post(
        "/account/password",
        {"current": PASSWORD, "new": new, "confirm": new},
        companions=(SESSIONS_ENDED,),
    )


def _renew_codes(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post("/account/recovery-codes")


def _sign_out_everywhere(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post("/account/sign-out-everywhere")


def _close_unit(c: Ctx) -> Post:
    """A unit where one person holds a role (signed in): the role ends with the unit."""
    unit = c.new_unit("X-CLOSE")
    person = make_user(c.db, keyring(), "dong.cua", unit, [("focal_point", unit)])
    open_session_for(c.db, person.id)
    c.commit()
    c.sign_in("admin_d1")  # D1 is the unit's parent
    return Post(
        f"/admin/units/{unit.id}/close",
        {"valid_to": c.today, "version": unit.version},
        companions=("user.revoke", SESSIONS_ENDED),
    )


def _account_action(
    action: str,
    prepare: Callable[[Ctx, User], None] | None = None,
    companions: tuple[str, ...] = (SESSIONS_ENDED,),
):
    def recipe(c: Ctx) -> Post:
        target = c.target()
        if prepare:
            prepare(c, target)
        c.sign_in("admin_d1")
        return Post(f"/admin/users/{target.id}/{action}", {"reason": REASON}, companions)

    return recipe


def _disabled(c: Ctx, target: User) -> None:
    users.set_active(c.db, None, target, False, REASON)
    c.commit()


def _grant(c: Ctx) -> Post:
    target = c.target()
    c.sign_in("admin_d1")
    return Post(f"/admin/users/{target.id}/grants", {"role": "focal_point", "unit_code": "SCH-B"})


def _asked(c: Ctx, kind: str = "grant", by: str = "admin_d1"):
    """A request of ``by`` about a fresh focal point of SCH-A (kept pending)."""
    target = c.target()
    if kind == "grant":
        made = approvals.request_grant(c.db, c.user(by), target, "focal_point", c.unit("SCH-B"))
    else:
        made = approvals.request_credential_reset(c.db, c.user(by), target, REASON).request
    c.commit()
    return made


def _approve(c: Ctx) -> Post:
    req = _asked(c)
    c.sign_in("admin_p")
    return Post(
        f"/admin/approvals/{req.id}/approve",
        {"version": str(req.version)},
        companions=("user.grant", SESSIONS_ENDED),
    )


def _reject(c: Ctx) -> Post:
    req = _asked(c, "reset")
    c.sign_in("admin_p")
    return Post(f"/admin/approvals/{req.id}/reject", {"note": REASON, "version": str(req.version)})


def _withdraw(c: Ctx) -> Post:
    req = _asked(c, "grant", by="admin_p")
    c.sign_in("admin_p")
    return Post(f"/admin/approvals/{req.id}/withdraw", {"version": str(req.version)})


def _move_unit(c: Ctx) -> Post:
    commune = c.new_unit("X-COMMUNE", "commune", parent="PRV")  # communes sit under provinces
    school = c.new_unit("X-MOVE")
    c.sign_in("admin_p")
    return Post(
        f"/admin/units/{school.id}/move",
        {"new_parent_code": commune.code, "on": c.today, "version": school.version},
    )


def _reform(c: Ctx) -> Post:
    commune = c.new_unit("X-COMMUNE", "commune", parent="PRV")
    school = c.new_unit("X-MOVE")
    c.sign_in("admin_p")
    rows = f"Mã trường,Mã đơn vị cấp trên mới,Từ ngày\n{school.code},{commune.code},{c.today}\n"
    return Post(
        "/admin/reform",
        {"file": (io.BytesIO(rows.encode()), "reform.csv", "text/csv")},
        companions=("unit.move",),
    )


def _contact_form(**changes) -> dict:
    return {
        "unit_code": "D1",
        "name": "Trung tâm tư vấn D1",
        "kind": "health_station",
        "phone": "0233 111 222",
        "address": "Số 1 đường Lê Lợi",
        "active": "y",
        "version": "0",
        **changes,
    }


def _new_referral(c: Ctx) -> Post:
    c.sign_in("admin_d1")
    return Post("/admin/referrals/new", _contact_form())


def _referral_defaults(c: Ctx) -> Post:
    c.sign_in("admin_d1")
    return Post("/admin/referrals/defaults", {"unit_code": "D1"})


def _referral(c: Ctx) -> Post:
    contact = referrals.create_contact(
        c.db, None, c.unit("D1"), "Tổng đài 111", "hotline", "111", ""
    )
    c.commit()
    c.sign_in("admin_d1")
    return Post(
        f"/admin/referrals/{contact.id}",
        _contact_form(name="Tổng đài 111 (mới)", kind="hotline", version=str(contact.version)),
    )


def _new_unit(c: Ctx) -> Post:
    c.sign_in("admin_d1")
    return Post(
        "/admin/units/new",
        {"parent_code": "D1", "code": "X-NEW", "name": "Trường THCS Mới", "kind": "school"},
    )


def _new_user(c: Ctx) -> Post:
    c.sign_in("admin_d1")
    return Post(
        "/admin/users/new",
        {
            "username": "nguoi.moi",
            "full_name": "Người Mới",
            "email": "nguoi.moi@example.org",
            "unit_code": "SCH-A",
        },
        companions=("approval.request", "auth.enrolment_issued"),
    )


def _revoke(c: Ctx) -> Post:
    target = c.target()
    [grant] = target.active_grants
    c.sign_in("admin_d1")
    return Post(
        f"/admin/grants/{grant.id}/revoke", {"reason": REASON}, companions=(SESSIONS_ENDED,)
    )


def _edit_unit(c: Ctx) -> Post:
    unit = c.new_unit("X-EDIT")
    c.sign_in("admin_d1")
    return Post(
        f"/admin/units/{unit.id}",
        {"name": "Trường đổi tên", "kind": "school", "version": unit.version},
    )


def _edit_user(c: Ctx) -> Post:
    target = c.target()
    c.sign_in("admin_d1")
    return Post(
        f"/admin/users/{target.id}",
        {"full_name": "Tên Đã Sửa", "email": "da.sua@example.org", "version": target.version},
    )


def _verify_now(c: Ctx) -> Post:
    c.sign_in("auditor_p")
    return Post("/audit/verify")


def _review_attention(c: Ctx) -> Post:
    from caseapp.services.audit import attention

    c.sign_in("auditor_p")
    item = attention.items(c.db, c.user("auditor_p"))[0]  # at least the unsigned checkpoint
    return Post("/audit/attention/review", {"key": item.key, "note": "Đã xem xét", "since": ""})


def _enrol(c: Ctx) -> Post:
    c.sign_in("new_user", second_factor=False)
    c.commit()
    page = c.client.get("/login/enrol").get_data(as_text=True)
    secret = totp.from_base32(SECRET_RE.search(page).group(1).replace(" ", ""))
    return Post("/login/enrol", {"code": totp.code_at(secret, steady_counter())})


def _enrolment_code(c: Ctx) -> Post:
    """A fresh account's first sign-in with both halves of its code (part 1 from admin.d1,
    part 2 from admin.p), choosing its own password."""
    target = c.target()
    first = enrolment.issue_first_half(c.db, c.user("admin_d1"), target, "reset")
    second = enrolment.release_second_half(c.db, c.user("admin_p"), target)
    c.commit()
    new = "một mật khẩu mới đủ dài 2025"
    return Post(
        "/login/code",
        {
            "username": target.username,
            "first_half": first.code,
            "second_half": second.code,
            "new_password": new,
            "repeat": new,
        },
    )


def _login(c: Ctx) -> Post:
    person = c.world["focal_a"]
    return Post("/login", {"username": person.username, "password": person.password})


def _logout(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post("/logout")


def _second_factor(c: Ctx) -> Post:
    person = c.sign_in("focal_a", second_factor=False)
    return Post("/login/2fa", {"code": totp.code_at(person.totp_secret, steady_counter())})


def _on_case(
    path: str,
    data: Callable[[Ctx, Case, object], dict] | dict | None = None,
    who: str = "focal_a",
    prepare: Callable[[Ctx, Case], object] | None = None,
):
    """A post to a page of a fresh SCH-A case; ``prepare`` adds what the post acts on (an
    attachment, a step...), which fills ``{x...}`` in ``path`` and is passed to ``data``."""

    def recipe(c: Ctx) -> Post:
        case = c.case()
        made = prepare(c, case) if prepare else None
        c.commit()
        c.sign_in(who)
        fields = data(c, case, made) if callable(data) else dict(data or {})
        return Post(f"/cases/{case.public_id}{path.format(x=made)}", fields)

    return recipe


def _attachment(c: Ctx, case: Case):
    return case_records.add_attachment(
        c.db,
        c.user("focal_a"),
        case,
        "bien-ban.txt",
        "text/plain",
        io.BytesIO(b"noi dung bien ban"),
    )


def _other_focal_point(c: Ctx, case: Case) -> User:
    return c.target()


def _open_step(c: Ctx, case: Case):
    return step_service.add_step(
        c.db, c.user("focal_a"), case, StepInput(kind="verification", method="interview")
    )


def _exclusion(c: Ctx, case: Case):
    return case_records.exclude(c.db, c.user("focal_a"), case, "officer.p", REASON)


def _consent(c: Ctx, case: Case):
    return case_records.record_consent(
        c.db, c.user("focal_a"), case, "guardian", "sharing", local_today()
    )


def _hold(c: Ctx, case: Case):
    from caseapp.services.cases import holds

    return holds.set_hold(c.db, c.user("officer_d1"), case, REASON)


def _second_person(c: Ctx, case: Case):
    """A second person harmed (the only one cannot be withdrawn)."""
    from caseapp.services.cases import people

    return people.add_person(
        c.db,
        c.user("focal_a"),
        case,
        people.PersonInput(position="harmed", sex="male", age_band="15-17", role="pupil"),
        case.version,
    )


def _new_case(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post("/cases/new", intake_form(c.world.units["SCH-A"], received_on=c.today))


def _activity_form(**changes) -> dict:
    return {
        "unit_code": "SCH-A",
        "held_on": local_today().isoformat(),
        "kind": "training",
        "audience": "pupils",
        "title": "Tập huấn phòng chống bạo lực học đường",
        "participants_female": "12",
        "participants_male": "10",
        "participants_other": "0",
        "version": "0",
        **changes,
    }


def _new_activity(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post("/reports/activities/new", _activity_form())


def _activity(c: Ctx) -> Post:
    held = ActivityInput(
        held_on=local_today(),
        kind="training",
        audience="pupils",
        title="Tập huấn",
        participants_female=1,
    )
    made = activities.create(c.db, c.user("focal_a"), c.unit("SCH-A"), held)
    c.commit()
    c.sign_in("focal_a")
    return Post(
        f"/reports/activities/{made.id}",
        _activity_form(title="Tập huấn (sửa)", version=str(made.version)),
    )


def _breach_form() -> dict:
    from tests.functional.test_breaches import FORM

    return dict(FORM)


def _new_breach(c: Ctx) -> Post:
    c.sign_in("officer_d1")
    return Post("/privacy/breaches/new", _breach_form())


def _breach(c: Ctx):
    from caseapp.services.privacy import breaches

    made = breaches.create(
        c.db,
        c.user("officer_d1"),
        c.unit("D1"),
        breaches.BreachInput(**{k: v for k, v in _breach_form().items() if k != "unit_code"}),
    )
    c.commit()
    c.sign_in("officer_d1")
    return made


def _update_breach(c: Ctx) -> Post:
    made = _breach(c)
    return Post(
        f"/privacy/breaches/{made.id}",
        {"version": str(made.version), "notify_people": "yes", "contained_at": "28/11/2026 08:00"},
    )


def _breach_action(c: Ctx) -> Post:
    made = _breach(c)
    return Post(f"/privacy/breaches/{made.id}/actions", {"taken_at": "", "text": "Đổi mật khẩu."})


def _close_breach(c: Ctx) -> Post:
    made = _breach(c)
    return Post(
        f"/privacy/breaches/{made.id}/close",
        {"version": str(made.version), "reason": "Không phải sự cố dữ liệu cá nhân."},
    )


def _subject_request(c: Ctx, kind: str = "access", steps: int = 0):
    """A request of SCH-A about the person harmed of a case (officer_d1 records it): ``steps``
    1 acknowledged, 2 and matched (confirmed), 3 and its export prepared by officer_d1."""
    from caseapp.services.privacy import request_export, request_matches
    from caseapp.services.privacy import requests as subject_requests
    from tests.functional.subject_request_support import FORM

    officer = c.user("officer_d1")
    c.case()
    data = {**FORM, "kind": kind, "subject_name": "Lê Thị Thu"}
    made = subject_requests.create(
        c.db, officer, c.unit("SCH-A"), subject_requests.RequestInput(**data)
    )
    c.commit()
    if steps >= 1:
        subject_requests.acknowledge(c.db, officer, made, made.version)
        c.commit()
    if steps >= 2:
        request_matches.search(c.db, officer, made, made.version)
        c.commit()
        for match in made.matches:
            request_matches.confirm(c.db, officer, made, match.id, True)
        c.commit()
    if steps >= 3:
        request_export.prepare(c.db, officer, made, made.version)
        c.commit()
    c.sign_in("officer_d1")
    return made


def _new_subject_request(c: Ctx) -> Post:
    from tests.functional.subject_request_support import FORM

    c.sign_in("focal_a")
    return Post("/privacy/requests/new", dict(FORM))


def _acknowledge_request(c: Ctx) -> Post:
    made = _subject_request(c)
    return Post(f"/privacy/requests/{made.id}/acknowledge", {"version": str(made.version)})


def _extend_request(c: Ctx) -> Post:
    made = _subject_request(c)
    return Post(
        f"/privacy/requests/{made.id}/extend",
        {"version": str(made.version), "reason": "Cần thêm thời gian xác minh."},
    )


def _decide_request(c: Ctx) -> Post:
    made = _subject_request(c, kind="objection", steps=1)
    return Post(
        f"/privacy/requests/{made.id}/decide",
        {
            "version": str(made.version),
            "outcome": "refused",
            "legal_ground": "legal_obligation",
            "reason": "Pháp luật yêu cầu lưu giữ.",
        },
    )


def _search_matches(c: Ctx) -> Post:
    made = _subject_request(c, steps=1)
    return Post(f"/privacy/requests/{made.id}/matches/search", {"version": str(made.version)})


def _confirm_match(c: Ctx) -> Post:
    from caseapp.services.privacy import request_matches

    made = _subject_request(c, steps=1)
    request_matches.search(c.db, c.user("officer_d1"), made, made.version)
    c.commit()
    return Post(
        f"/privacy/requests/{made.id}/matches",
        {"match_id": str(made.matches[0].id), "confirmed": "y"},
    )


def _prepare_export(c: Ctx) -> Post:
    made = _subject_request(c, steps=2)
    return Post(
        f"/privacy/requests/{made.id}/export",
        {"version": str(made.version)},
        companions=("case.view_confidential",),  # the subject's own fields, one per case
    )


def _release_export(c: Ctx) -> Post:
    made = _subject_request(c, steps=3)
    export = made.exports[-1]
    c.sign_in("officer_p")
    return Post(
        f"/privacy/requests/{made.id}/exports/{export.id}/release",
        {
            "version": str(export.version),
            "outcome": "granted",
            "legal_ground": "",
            "reason": "",
            "verified": "y",
        },
        companions=("request.decide",),  # the release completes the request
    )


def _reject_export(c: Ctx) -> Post:
    made = _subject_request(c, steps=3)
    export = made.exports[-1]
    c.sign_in("officer_p")
    return Post(
        f"/privacy/requests/{made.id}/exports/{export.id}/reject",
        {"version": str(export.version), "note": "Thiếu một bước hỗ trợ."},
    )


def _add_holiday(c: Ctx) -> Post:
    c.sign_in("admin_p")
    return Post("/privacy/settings/holidays", {"day": "10/03/2027", "name": "Nghỉ bù"})


def _remove_holiday(c: Ctx) -> Post:
    c.sign_in("admin_p")
    return Post("/privacy/settings/holidays/remove", {"day": "2027-09-02"})  # preloaded


def _update_period(c: Ctx) -> Post:
    from caseapp.models import LegalPeriod

    line = c.db.get(LegalPeriod, "request_access")
    c.sign_in("admin_p")
    return Post(
        "/privacy/settings/periods",
        {"key": line.key, "version": str(line.version), "amount": "11", "basis": line.basis},
    )


def _statistics_values() -> dict[str, str]:
    from tests.functional.test_unit_statistics import consistent

    return {k: str(v) for k, v in consistent().items()}


def _statistics(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post(
        "/equality/statistics?unit=SCH-A&period=six_month:2021",
        {"version": "0", "source": "form", **_statistics_values()},
    )


def _import_statistics(c: Ctx) -> Post:
    c.sign_in("focal_a")
    lines = ["figure,female,male"]
    values = _statistics_values()
    for row in ("teachers", "managers", "employees", "staff_total", "party_members"):
        lines.append(f"{row},{values[row + '_female']},{values[row + '_male']}")
    lines.append(f"women_leaders,{values['women_leaders']},")
    rows = [k.rsplit("_", 1)[0] for k in values if k.endswith("_female")]
    for row in dict.fromkeys(rows):
        if row not in ("teachers", "managers", "employees", "staff_total", "party_members"):
            lines.append(f"{row},{values[row + '_female']},{values[row + '_male']}")
    content = ("\n".join(lines) + "\n").encode()
    return Post(
        "/equality/statistics/import?unit=SCH-A&period=six_month:2021",
        {"version": "0", "file": (io.BytesIO(content), "thong-ke.csv")},
    )


def _plan_form(version: int = 0) -> dict:
    return {
        "unit": "SCH-A",
        "year": str(plans.current_year()),
        "version": str(version),
        "text": "Kế hoạch bình đẳng giới",
        "targets-0-title": "Tỷ lệ nữ cán bộ quản lý",
        "targets-0-measure": "women_managers_share",
        "targets-0-target_value": "40",
    }


def _save_plan(c: Ctx) -> Post:
    c.sign_in("focal_a")
    return Post("/equality/plan", _plan_form())


def _approve_plan(c: Ctx) -> Post:
    sch_a = c.unit("SCH-A")
    made = plans.save_plan(
        c.db,
        c.user("focal_a"),
        sch_a,
        plans.current_year(),
        "Kế hoạch",
        [plans.TargetInput("Tỷ lệ nữ cán bộ quản lý", "women_managers_share", 40)],
        0,
    )
    head = make_user(c.db, keyring(), "hieu.truong", sch_a, [("head", sch_a)])
    c.commit()
    sign_in_client(c.client, c.db, head, True)
    return Post(
        "/equality/plan/approve",
        {"unit": "SCH-A", "year": str(made.year), "version": str(made.version)},
    )


def _add_material(c: Ctx) -> Post:
    made = activities.create(
        c.db,
        c.user("focal_a"),
        c.unit("SCH-A"),
        ActivityInput(held_on=local_today(), kind="training", audience="pupils", title="Tập huấn"),
    )
    c.commit()
    c.sign_in("focal_a")
    return Post(
        f"/reports/activities/{made.id}/materials",
        {
            "material-title": "Tờ rơi",
            "material-file": (io.BytesIO(b"%PDF-1.4\n%to roi\n"), "to-roi.pdf"),
        },
    )


def _remove_material(c: Ctx) -> Post:
    made = activities.create(
        c.db,
        c.user("focal_a"),
        c.unit("SCH-A"),
        ActivityInput(held_on=local_today(), kind="training", audience="pupils", title="Tập huấn"),
    )
    material = activity_materials.add_material(c.db, c.user("focal_a"), made, "Tờ rơi")
    c.commit()
    c.sign_in("focal_a")
    return Post(f"/reports/materials/{material.id}/remove")


def _import_units(c: Ctx) -> Post:
    c.sign_in("admin_p")
    content = (
        "Mã đơn vị,Tên đơn vị,Loại đơn vị,Cấp học,Mã đơn vị cấp trên\n"
        "THPT-NHAP,Trường THPT Nhập Từ Tệp,Trường,THPT,PRV\n"
    ).encode()
    return Post(
        "/admin/import/units",
        {"file": (io.BytesIO(content), "don-vi.csv")},
        companions=("unit.create",),
    )


def _import_accounts(c: Ctx) -> Post:
    c.sign_in("admin_d1")
    content = (
        "Tên đăng nhập,Họ và tên,Mã đơn vị,Vai trò\nnhap.tu.tep,Nhập Từ Tệp,SCH-A,focal_point\n"
    ).encode()
    return Post(
        "/admin/import/accounts",
        {"file": (io.BytesIO(content), "tai-khoan.csv")},
        companions=("approval.request", "user.create", "auth.enrolment_issued"),
    )


def _annual_2020() -> reports.Period:
    return next(p for p in reports.periods_of(2020) if p.kind == "annual")  # long over


def _submit(c: Ctx) -> Post:
    period = _annual_2020()
    complete_work_report(c.db, c.user("focal_a"), c.unit("SCH-A"), period)
    c.commit()
    c.sign_in("focal_a")
    return Post("/equality/submit", {"unit": "SCH-A", "period": period.key, "confirm": "y"})


def _save_narrative(c: Ctx) -> Post:
    period = _annual_2020()
    c.sign_in("focal_a")
    return Post(
        f"/equality/narrative?unit=SCH-A&period={period.key}",
        {"version": "0", "section_general": "Đánh giá chung.", "signer_title": "HIỆU TRƯỞNG"},
    )


def _compile_narrative(c: Ctx) -> Post:
    period = _annual_2020()
    complete_work_report(c.db, c.user("focal_a"), c.unit("SCH-A"), period)
    reports.submit(c.db, c.user("focal_a"), c.unit("SCH-A"), period)
    c.commit()
    c.sign_in("officer_d1")
    return Post("/equality/narrative/compile", {"unit": "D1", "period": period.key})


def _on_self_report(action: str, data: dict, companions: tuple[str, ...] = (), case=False):
    """A post about a new self-report at SCH-A, by its focal point (the one to merge into:
    a fresh SCH-A case)."""

    def recipe(c: Ctx) -> Post:
        from tests.functional.selfreport_support import submit_report

        extra = {"reference": c.case().reference} if case else {}
        report = submit_report(c.db, c.unit("SCH-A"))
        c.commit()
        c.sign_in("focal_a")
        fields = {**data, **extra, "version": str(report.version)}
        return Post(f"/self-reports/{report.uid}/{action}", fields, companions)

    return recipe


def _accept_fields() -> dict:
    from tests.functional.test_selfreport_decisions import ACCEPT

    return ACCEPT


def _self_report(c: Ctx) -> Post:
    token = token_of(c.client.get("/r/SCH-A"))
    return Post("/r/SCH-A", {"token": token, **report_fields()})


def _self_report_message(c: Ctx) -> Post:
    receipt = c.client.post(
        "/r/SCH-A", data={"token": token_of(c.client.get("/r/SCH-A")), **report_fields()}
    )
    page = c.client.post("/r/follow", data={"code": code_of(receipt)})
    return Post("/r/follow/message", {"token": token_of(page), "message": "Em vẫn ổn."})


RECIPES: dict[str, Callable[[Ctx], Post]] = {
    "account.change_password": _change_password,
    "account.renew_recovery_codes": _renew_codes,
    "account.sign_out_everywhere": _sign_out_everywhere,
    "admin.close_unit": _close_unit,
    "admin.disable_user": _account_action("disable"),
    "admin.enable_user": _account_action("enable", _disabled, companions=()),
    "admin.grant": _grant,
    "admin.import_accounts": _import_accounts,
    "admin.import_units": _import_units,
    "admin.move_unit": _move_unit,
    "admin.new_referral": _new_referral,
    "admin.new_unit": _new_unit,
    "admin.new_user": _new_user,
    "admin.referral": _referral,
    "admin.reform_apply": _reform,
    "admin.referral_defaults_add": _referral_defaults,
    "admin.reset_sign_in": _account_action("reset-sign-in", companions=("auth.enrolment_issued",)),
    "admin.approve": _approve,
    "admin.reject": _reject,
    "admin.withdraw": _withdraw,
    "admin.revoke": _revoke,
    "admin.unit": _edit_unit,
    "admin.user": _edit_user,
    "audit.verify_now": _verify_now,
    "audit.review_attention": _review_attention,
    "auth.enrol": _enrol,
    "auth.enrolment_code": _enrolment_code,
    "auth.login": _login,
    "auth.logout": _logout,
    "auth.second_factor": _second_factor,
    "cases.add_attachment": _on_case(
        "/attachments",
        lambda c, case, _: {"file": (io.BytesIO(b"noi dung tep"), "tep.txt", "text/plain")},
    ),
    "cases.assign": _on_case(
        "/assign", lambda c, case, other: {"handler": str(other.id)}, prepare=_other_focal_point
    ),
    "cases.add_consent": _on_case(
        "/consents",
        lambda c, case, _: {
            "party": "guardian",
            "purpose": "sharing",
            "given_on": c.today,
            "notice_given": "y",
        },
    ),
    "cases.add_exclusion": _on_case(
        "/exclusions",
        lambda c, case, _: {"person": str(c.user("officer_p").id), "reason": "Có quan hệ họ hàng"},
    ),
    "cases.lift_exclusion": _on_case(
        "/exclusions/{x.id}/lift", {"reason": REASON}, who="officer_d1", prepare=_exclusion
    ),
    "cases.add_note": _on_case("/notes", {"body": "Ghi chú sau buổi gặp phụ huynh"}),
    "cases.add_step": _on_case("/steps", {"kind": "verification", "method": "interview"}),
    "cases.complete_step": _on_case(
        "/steps/{x.uid}/complete",
        lambda c, case, step: {
            "finding": "substantiated",
            "done_on": c.today,
            "version": str(step.version),
        },
        prepare=_open_step,
    ),
    "cases.confidential": _on_case("/confidential", {"reason": REASON}, who="officer_d1"),
    "cases.download": _on_case(
        "/attachments/{x.uid}", {"reason": REASON}, who="officer_d1", prepare=_attachment
    ),
    "cases.edit": _on_case(
        "/edit",
        lambda c, case, _: intake_form(
            case.unit_id, received_on=c.today, risk_level="high", version=str(case.version)
        ),
    ),
    "cases.new": _new_case,
    "cases.transition": _on_case(
        "/transition",
        lambda c, case, _: {"target": "verifying", "reason": REASON, "version": str(case.version)},
    ),
    "cases.withdraw_consent": _on_case(
        "/consents/{x.id}/withdraw",
        lambda c, case, _: {"withdrawn_on": c.today, "confirm": "y"},
        prepare=_consent,
    ),
    "cases.add_person": _on_case(
        "/persons/new?position=harmed",
        lambda c, case, _: {
            "version": str(case.version),
            "sex": "male",
            "age_band": "11-14",
            "age_years": "13",
            "child": "y",
            "role": "pupil",
            "grade": "7",
            "disability": "no",
            "ethnic_minority": "unknown",
            "name": "Phạm Văn Nam",
        },
    ),
    "cases.edit_person": _on_case(
        "/persons/{x.uid}/edit",
        lambda c, case, person: {
            "version": str(case.version),
            "sex": "female",
            "age_band": "11-14",
            "age_years": "12",
            "child": "y",
            "role": "pupil",
            "grade": "6",
            "disability": "no",
            "ethnic_minority": "yes",
            "name": "Lê Thị Thu",
            "contact": "Lớp 6A",
        },
        prepare=lambda c, case: case.harmed_people[0],
    ),
    "cases.withdraw_person": _on_case(
        "/persons/{x.uid}/withdraw",
        lambda c, case, person: {"version": str(case.version), "reason": REASON},
        prepare=_second_person,
    ),
    "reports.activity": _activity,
    "reports.new_activity": _new_activity,
    "privacy.new_breach": _new_breach,
    "privacy.update_breach": _update_breach,
    "privacy.add_action": _breach_action,
    "privacy.close_breach": _close_breach,
    "privacy.new_subject_request": _new_subject_request,
    "privacy.acknowledge_subject_request": _acknowledge_request,
    "privacy.extend_subject_request": _extend_request,
    "privacy.decide_subject_request": _decide_request,
    "privacy.search_subject_matches": _search_matches,
    "privacy.confirm_subject_match": _confirm_match,
    "privacy.prepare_subject_export": _prepare_export,
    "privacy.release_subject_export": _release_export,
    "privacy.reject_subject_export": _reject_export,
    "privacy.add_holiday": _add_holiday,
    "privacy.remove_holiday": _remove_holiday,
    "privacy.update_period": _update_period,
    "cases.set_hold": _on_case("/holds", {"reason": REASON}, who="officer_d1"),
    "cases.release_hold": _on_case(
        "/holds/{x.id}/release",
        lambda c, case, hold: {"reason": REASON, "version": str(hold.version)},
        who="officer_d1",
        prepare=_hold,
    ),
    "equality.statistics": _statistics,
    "equality.import_statistics": _import_statistics,
    "reports.add_material": _add_material,
    "reports.remove_material": _remove_material,
    "equality.save_plan": _save_plan,
    "equality.approve_plan": _approve_plan,
    "equality.submit": _submit,
    "equality.narrative": _save_narrative,
    "equality.compile_narrative": _compile_narrative,
    "selfreports.accept": _on_self_report("accept", _accept_fields(), ("case.create",)),
    "selfreports.merge": _on_self_report("merge", {}, ("note.add",), case=True),
    "selfreports.close": _on_self_report("close", {"message": "Cảm ơn em đã báo."}),
    "selfreports.spam": _on_self_report("spam", {}),
    "selfreports.reply": _on_self_report("reply", {"body": "Thầy cô đã nhận được."}),
    "intake.submit": _self_report,
    "intake.follow_message": _self_report_message,
}


def test_every_audited_post_has_a_recipe():
    assert set(RECIPES) == set(AUDITED_POSTS), (
        f"missing recipes: {sorted(set(AUDITED_POSTS) - set(RECIPES))}; "
        f"stale: {sorted(set(RECIPES) - set(AUDITED_POSTS))}"
    )


@pytest.mark.usefixtures("clean_store")
@pytest.mark.parametrize("endpoint", sorted(AUDITED_POSTS))
def test_one_change_writes_exactly_its_audit_event(app, db, world, client, endpoint):
    ctx = Ctx(app, db, world, client)
    post = RECIPES[endpoint](ctx)
    db.commit()  # the preparation (and the sign-in session) is in place before the request
    path = urlsplit(post.url).path
    assert app.url_map.bind("localhost").match(path, method="POST")[0] == endpoint
    token = csrf_from(client.get(TOKEN_PAGE).get_data(as_text=True))
    start = audit_head(db)

    response = client.post(post.url, data={"csrf_token": token, **post.data})

    assert response.status_code < 400, (
        endpoint,
        response.status_code,
        response.get_data(as_text=True)[:2000],
    )
    actions = [e.action for e in events_after(db, start)]
    expected = AUDITED_POSTS[endpoint]
    assert actions.count(expected) == 1, (endpoint, actions)
    assert sorted(actions) == sorted([expected, *post.companions]), (endpoint, actions)
