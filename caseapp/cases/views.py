"""Case screens: list, intake, details, edit (optimistic locking), confidential content."""

from __future__ import annotations

from typing import Any

from flask import (
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from caseapp.access import permission
from caseapp.cases import bp
from caseapp.cases.forms import (
    AttachmentForm,
    CaseFilterForm,
    CaseForm,
    ConsentForm,
    ExclusionForm,
    IntakeForm,
    LiftExclusionForm,
    NoteForm,
    ReasonForm,
    WithdrawConsentForm,
)
from caseapp.cases.hold_views import hold_context
from caseapp.clock import local_today
from caseapp.db import get_session
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.form_submit import carry_out
from caseapp.forms import kept_query, small_int
from caseapp.labels import case_choice_names, status_names, violence_names
from caseapp.models import Case
from caseapp.models import cases as domain
from caseapp.runtime import settings
from caseapp.security.authz import has_permission
from caseapp.services.accounts import approvals
from caseapp.services.audit import sealed_text
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from caseapp.services.cases import listing as case_list
from caseapp.services.cases import readers as case_readers
from caseapp.services.cases import records as case_records
from caseapp.services.cases.access import (
    can_handle,
    can_oversee,
    can_read_content,
    get_case,
    intake_units,
)
from caseapp.services.org.units import unit_in_scope
from caseapp.services.privacy import notices


def _filters() -> tuple[CaseFilterForm, case_list.CaseFilter, str | None]:
    form = CaseFilterForm(request.args)
    form.status.choices = [("", _("All"))] + list(status_names().items())
    form.violence.choices = [("", _("All"))] + list(violence_names().items())
    form.risk.choices = [("", _("All"))] + list(case_choice_names()["risk_level"].items())
    form.due.choices = [
        ("", _("All")),
        ("today", _("Due today")),
        ("fortnight", _("A follow-up in the next two weeks")),
    ]
    form.sort.choices = [
        ("received_desc", _("Newest first")),
        ("received_asc", _("Oldest first")),
        ("risk", _("Highest risk first")),
        ("reference", _("Reference")),
    ]
    flt = case_list.CaseFilter()
    if not form.validate():
        return form, flt, _("Some filters are not valid; they were ignored.")
    error = None
    flt.reference = form.q.data or ""
    flt.status = form.status.data if form.status.data in domain.STATUSES else ""
    flt.violence = form.violence.data if form.violence.data in domain.VIOLENCE_TYPES else ""
    flt.risk = form.risk.data if form.risk.data in domain.RISK_LEVELS else ""
    flt.due = form.due.data if form.due.data in case_list.DUE else ""
    flt.overdue = bool(form.overdue.data)
    flt.urgent = bool(form.urgent.data)
    flt.received_from, flt.received_to = form.received_from.data, form.received_to.data
    flt.sort = form.sort.data if form.sort.data in case_list.SORTS else "received_desc"
    related, role = request.args.get("related", ""), request.args.get("role", "")
    person = request.args.get("person", "")[:36]
    # A filter only reads: nothing to commit or roll back, so carry_out (a form's submission)
    # does not fit; a refused filter value becomes the message above the list.
    if related and (role in ("harmed", "perpetrator") or person):
        try:
            flt.related_to = get_case(get_session(), current_user, related).id
            flt.related_role = role if role in ("harmed", "perpetrator") else ""
            flt.related_person = person
        except NotFound:
            error = _("Some filters are not valid; they were ignored.")
    if form.unit.data:
        try:
            flt.unit_path = unit_in_scope(
                get_session(), current_user, form.unit.data, "case.read"
            ).path
        except ValidationFailed as exc:
            error, flt.unit_path = exc.message, "/none/"
    return form, flt, error


@bp.get("/")
@permission("case.read")
def index():
    form, flt, error = _filters()
    page = case_list.case_page(
        get_session(),
        current_user,
        flt,
        settings().page_size,
        after=request.args.get("after"),
        before=request.args.get("before"),
    )
    args = kept_query(drop=("page", "after", "before"))
    schools = intake_units(get_session(), current_user)
    related = get_session().get(Case, flt.related_to) if flt.related_to else None
    return render_template(
        "cases/list.html",
        form=form,
        rows=page.rows,
        page=page,
        error=error,
        args=args,
        today=local_today(),
        can_record=bool(schools),
        related=related,
        related_role=flt.related_role,
        # The filters stay folded (a phone shows cases first) unless in use.
        filtering=any(v for k, v in args.items() if k not in ("related", "role", "person", "q")),
        # A focal point of one school needs no school column.
        show_school=len(schools) != 1 or has_permission(current_user, "case.oversee"),
    )


def _facts(form: CaseForm) -> cases.CaseFacts:
    return cases.CaseFacts(
        received_on=form.received_on.data,
        received_via=form.received_via.data,
        reporter_kind=form.reporter_kind.data,
        setting=form.setting.data,
        violence_types=list(form.violence_types.data or []),
        risk_level=form.risk_level.data,
        incident_on=form.incident_on.data,
        incident_date_approximate=bool(form.incident_date_approximate.data),
        serious_risk_to_child=bool(form.serious_risk_to_child.data),
    )


def _details(form: IntakeForm) -> cases.CaseDetails:
    return cases.CaseDetails(
        **vars(_facts(form)),
        # An age under 16 is a child whether or not the box was ticked (it decides whose
        # consent is needed).
        child=bool(form.child.data)
        or cases.is_child_by_age(form.harmed_age_band.data, form.harmed_age_years.data),
        harmed_sex=form.harmed_sex.data,
        harmed_age_band=form.harmed_age_band.data,
        harmed_role=form.harmed_role.data,
        perpetrator_sex=form.perpetrator_sex.data,
        perpetrator_age_band=form.perpetrator_age_band.data,
        perpetrator_relationship=form.perpetrator_relationship.data,
        harmed_age_years=form.harmed_age_years.data,
        harmed_disability=form.harmed_disability.data,
        harmed_ethnic_minority=form.harmed_ethnic_minority.data,
        perpetrator_count=form.perpetrator_count.data or 1,
    )


def _content(form: CaseForm) -> cases.CaseContent:
    names = [*domain.CONFIDENTIAL_FIELDS, "informant_name", "informant_contact"]
    if isinstance(form, IntakeForm):
        names += ["harmed_name", "harmed_contact", "guardian_name", "guardian_contact"]
        names.append("perpetrator_names")
    values: dict[str, Any] = {name: (getattr(form, name).data or "") for name in names}
    return cases.CaseContent(**values)


@bp.route("/new", methods=["GET", "POST"])
@permission("case.write")
def new():
    db = get_session()
    units = intake_units(db, current_user)
    form = IntakeForm()
    form.fill_choices(units)
    if request.method == "GET":
        form.received_on.data = local_today()
        form.perpetrator_count.data = 1
        form.harmed_disability.data = form.harmed_ethnic_minority.data = "unknown"
    error, status = None, 200
    if form.validate_on_submit():
        unit = next((u for u in units if u.id == form.unit_id.data), None)

        def record_case() -> Case:
            if unit is None:
                raise ValidationFailed(_("Choose your school."))
            actor = current_user._get_current_object()  # the user, not the proxy, below
            return cases.create_case(db, actor, unit, _details(form), _content(form))

        outcome = carry_out(record_case)
        if outcome.ok and outcome.value is not None:
            flash(_("Case %(ref)s recorded.", ref=outcome.value.reference), "success")
            return redirect(url_for("cases.show", public_id=outcome.value.public_id))
        error, status = outcome.message, 400
    elif form.is_submitted():
        status = 400
    return render_template(
        "cases/form.html",
        form=form,
        error=error,
        case=None,
        sections=notices.notice(),
        notice_version=notices.NOTICE_VERSION,
    ), status


@bp.get("/<public_id>")
@permission("case.read")
def show(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    events = case_records.history(db, case)
    return render_template(
        "cases/show.html",
        case=case,
        reason_form=ReasonForm(),
        handler=can_handle(current_user, case),
        overseer=can_oversee(current_user, case),
        repeats=case_records.repeat_counts(db, current_user, case),
        consents=case_records.consents(db, case),
        consent_ok={p: case_records.has_consent(db, case, p) for p in domain.CONSENT_PURPOSES},
        consent_status=case_records.consent_status(db, case),
        person_repeats=case_records.repeat_counts_by_person(db, current_user, case),
        repeats_shown=case_records.REPEATS_SHOWN,
        consent_form=_consent_form(),
        notice_version=notices.NOTICE_VERSION,
        known_notice=notices.known_version,
        withdraw_form=WithdrawConsentForm(formdata=None),
        exclusions=case_records.exclusions(db, case),
        exclusion_form=_exclusion_form(db, case),
        lift_form=LiftExclusionForm(formdata=None),
        lifts_asked=approvals.lifts_asked(db, case),
        lifts_to_decide=approvals.lifts_for_case(db, current_user, case),
        assign_form=_assign_form(db, case),
        **_access_report(db, case),
        timeline=_timeline(
            events,
            case_records.full_names(db, events),
            sealed_text.reasons(db, events, current_user),
        ),
        **_workflow_context(db, case),
        **_people_context(case),
        **hold_context(db, case),
    )


def _people_context(case) -> dict:
    from caseapp.cases.forms import WithdrawPersonForm
    from caseapp.services.cases import people

    return {
        "person_labels": {p.id: people.label(p) for p in case.people},
        "withdraw_person_form": WithdrawPersonForm(formdata=None, version=case.version),
    }


def _access_report(db, case) -> dict:
    """Who can open the content and who did: for those who may read it (the others: nothing)."""
    if not can_read_content(current_user, case):
        return {"readers": None}
    latest, total = case_readers.latest_openings(db, current_user, case)
    return {
        "readers": case_readers.who_can_read(db, current_user, case),
        "openings": latest,
        "openings_total": total,
    }


def _exclusion_form(db, case) -> ExclusionForm:
    form = ExclusionForm(formdata=None)
    form.fill_choices(case_records.exclusion_candidates(db, current_user, case))
    return form


def _workflow_context(db, case) -> dict:
    from caseapp.cases.forms import StepForm, TransitionForm
    from caseapp.services.cases import deadlines, discipline, steps, workflow

    contacts = steps.referral_contacts(db, case)
    step_form = StepForm(formdata=None)
    step_form.fill_choices(contacts)
    transition_form = TransitionForm(formdata=None)
    transition_form.closure_reason.choices = [("", "—")]
    return {
        "steps": steps.steps_of(db, case),
        "options": workflow.options(db, current_user, case)
        if case.is_open or can_oversee(current_user, case)
        else [],
        "step_form": step_form,
        "transition_form": transition_form,
        "overdue": deadlines.overdue_reasons(db, case),
        "referral_consent": case_records.has_consent(db, case, "referral"),
        "discipline_measures": discipline.measure_groups(case.unit.level),
    }


def _timeline(
    events, names: dict[int, str] | None = None, reasons: dict[int, str] | None = None
) -> list[dict]:
    """Audit events as a readable timeline: translated actions and field names; values of
    coded fields translated; confidential fields only ever read "changed". People are named
    by their full name (``names``), their user name kept for the hover text; reasons as the
    viewer may read them (``reasons``, from sealed_text.reasons)."""
    from caseapp.labels import action_names
    from caseapp.readable import field_names, value_names

    names = names or {}
    reasons = reasons or {}

    actions, fields_, codes = action_names(), field_names(), value_names()
    out: list[dict] = []
    for event in events:
        details = _event_details(event, fields_, codes)
        previous = out[-1] if out else None
        reason = reasons.get(event.seq, "")
        if previous and _repeats_previous(previous, event, details, reason):
            previous["times"] += 1  # one line for a run of reads by the same person
            previous["since"] = event.at
            continue
        if previous and _is_reload_read(previous, event):
            out.pop()  # the page shown again right after adding: not a read of its own here
        out.append(_timeline_entry(event, details, names, actions, reason))
    return out


def _event_details(event, fields_: dict, codes: dict) -> list[str]:
    """The changed fields of an update, transition or step completion, one line each."""
    import json

    from caseapp.readable import readable

    if event.action not in ("case.update", "case.transition", "step.complete"):
        return []
    details = []
    for name, value in sorted(json.loads(event.changes or "{}").items()):
        if name.endswith("_id") or name not in fields_:
            continue  # internal ids and bookkeeping are not for people to read
        label = fields_[name]
        if value == "changed":
            details.append(_("%(field)s: changed", field=label))
        elif isinstance(value, list) and len(value) == 2:
            old, new = (readable(codes.get(name, {}), v) for v in value)
            details.append(
                f"{label}: {old if old not in (None, '') else '—'} → "
                f"{new if new not in (None, '') else '—'}"
            )
    return details


def _timeline_entry(
    event, details: list[str], names: dict[int, str], actions: dict, reason: str
) -> dict:
    return {
        "at": event.at,
        "actor": names.get(event.actor_id, event.actor_name)
        if event.actor_id is not None
        else event.actor_name,
        "username": event.actor_name,
        "actor_id": event.actor_id,
        "code": event.action,
        "action": actions.get(event.action, event.action),
        "details": details,
        "reason": reason,
        "times": 1,
        "since": event.at,
    }


def _repeats_previous(previous: dict, event, details: list[str], reason: str) -> bool:
    """The same read by the same person for the same reason as the line before."""
    return (
        event.action in REPEATED_READS
        and not details
        and (previous["code"], previous["actor_id"], previous["reason"])
        == (event.action, event.actor_id, reason)
    )


def _is_reload_read(previous: dict, event) -> bool:
    """The line before is the confidential page shown again right after this addition."""
    return (
        previous["code"] == "case.view_confidential"
        and previous["times"] == 1
        and event.action in ADDED_ON_THE_PAGE
        and previous["actor_id"] == event.actor_id
        and _seconds(event.at, previous["at"]) <= RELOAD_SECONDS
    )


def _seconds(earlier, later) -> float:
    from datetime import UTC

    earlier, later = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (earlier, later))
    return (later - earlier).total_seconds()


# After adding a note or a file on the confidential page the page is shown again, which is
# audited as a read; the timeline does not list that read apart from what was added (the
# audit trail keeps it).
ADDED_ON_THE_PAGE = {"note.add", "attachment.add"}
RELOAD_SECONDS = 10


# Reads repeated one after another by the same person (a focal point adding notes on the
# confidential page) read as one line of the timeline, with how many and since when.
REPEATED_READS = {"case.view_confidential", "attachment.download"}


def _assign_form(db, case):
    from caseapp.cases.forms import AssignForm

    form = AssignForm(formdata=None, handler=case.assigned_to_id)
    form.handler.choices = [(u.id, u.full_name) for u in case_records.handlers_available(db, case)]
    return form


def _consent_form(form: ConsentForm | None = None) -> ConsentForm:
    form = form or ConsentForm(formdata=None, given_on=local_today())
    form.fill_choices()
    return form


def _confidential_page(case, content: case_content.CaseContent, conversations=()):
    """The opened content, its read audited and committed before a word of it is shown."""
    if content.readings != (session.get("readings") or {}):
        session["readings"] = content.readings
    return render_template(
        "cases/confidential.html",
        case=case,
        content=content,
        reason=content.reason,
        notes=content.notes,
        attachments=content.files,
        note_form=NoteForm(formdata=None),
        conversations=conversations,
        reply_forms=_reply_forms(conversations),
        attachment_form=AttachmentForm(formdata=None),
        reason_form=ReasonForm(formdata=None, reason=content.reason),
        handler=can_handle(current_user, case),
        steps=content.steps,
        step_details=content.step_details,
        **_people_context(case),
    )


def _reply_forms(conversations) -> dict:
    """A reply form per linked self-report still open to replies (it returns to this page)."""
    from caseapp.selfreports.forms import ReplyForm
    from caseapp.services.selfreports.conversation import may_reply

    return {
        c.report.id: ReplyForm(formdata=None, version=c.report.version, back="case")
        for c in conversations
        if may_reply(current_user, c.report)
    }


@bp.route("/<public_id>/confidential", methods=["GET", "POST"])
@permission("case.read")
def confidential(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    if not can_read_content(current_user, case):
        return render_template("cases/no_content.html", case=case), 403
    reason = None  # a GET reads under the reason in force (an officer), or none (a focal point)
    if request.method == "POST":
        form = ReasonForm()
        if not form.validate_on_submit():
            flash(_("State why you need to open the confidential content."), "error")
            return redirect(url_for("cases.show", public_id=public_id))
        reason = form.reason.data
    opened = carry_out(lambda: _open_with_conversations(db, case, reason))
    if isinstance(opened.error, case_content.ReasonNeeded):
        flash(opened.message, "error")
        return redirect(url_for("cases.show", public_id=public_id) + "#messages")
    if opened.error is not None or opened.value is None:
        raise opened.error or NotFound()  # the content was destroyed: the error page says so
    return _confidential_page(case, *opened.value)


def _open_with_conversations(db, case, reason):
    """The case's content, then the conversations of the self-reports linked to it, read
    under the same reason (each service audits its own read)."""
    from caseapp.services.selfreports import conversation

    content = case_content.open_content(db, current_user, case, reason, session.get("readings"))
    return content, conversation.open_for_case(db, current_user, case, content.reason)


@bp.route("/<public_id>/edit", methods=["GET", "POST"])
@permission("case.write")
def edit(public_id: str):
    db = get_session()
    case = get_case(db, current_user, public_id)
    if not can_handle(current_user, case):
        return render_template("cases/no_content.html", case=case), 403
    form = CaseForm()
    form.fill_choices([case.unit], case.received_via)
    if request.method == "GET":
        _fill(form, case, case_content.open_content(db, current_user, case))
        db.commit()  # the audit event of the read
        return render_template("cases/form.html", form=form, case=case, error=None)
    # The school never changes and the edit form does not send it: the case's own unit.
    form.unit_id.data, form.unit_id.raw_data = case.unit_id, [str(case.unit_id)]
    if not form.validate_on_submit():
        return render_template("cases/form.html", form=form, case=case, error=None), 400
    version = small_int(form.version.data) or 0  # 0: stale
    outcome = carry_out(
        lambda: cases.update_case(db, current_user, case, _facts(form), _content(form), version)
    )
    if isinstance(outcome.error, Conflict):
        current = get_case(db, current_user, public_id)
        return render_template(
            "cases/conflict.html", case=current, form=form, differences=_differences(current, form)
        ), 409
    if not outcome.ok:
        return render_template(
            "cases/form.html", form=form, case=case, error=outcome.message
        ), outcome.status
    flash(_("Saved."), "success")
    return redirect(url_for("cases.show", public_id=public_id))


def _fill(form: CaseForm, case, content: cases.CaseContent) -> None:
    for name in cases.DETAIL_FIELDS:
        getattr(form, name).data = getattr(case, name)
    form.violence_types.data = case.violence_types
    for name in (*domain.CONFIDENTIAL_FIELDS, "informant_name", "informant_contact"):
        getattr(form, name).data = getattr(content, name)
    form.unit_id.data = case.unit_id
    form.version.data = case.version


def _differences(current, form: CaseForm) -> list[tuple[str, str, str]]:
    """Clear fields where the saved case now differs from what this form sent."""
    names = case_choice_names()
    out = []
    for name in cases.DETAIL_FIELDS:
        saved, sent = getattr(current, name), getattr(form, name).data
        if saved != sent and not (saved in (None, "") and sent in (None, "")):
            label = str(getattr(form, name).label.text)
            out.append(
                (label, names.get(name, {}).get(saved, saved), names.get(name, {}).get(sent, sent))
            )
    if sorted(current.violence_types) != sorted(form.violence_types.data or []):
        v = violence_names()
        out.append(
            (
                str(form.violence_types.label.text),
                ", ".join(v[t] for t in current.violence_types),
                ", ".join(v.get(t, t) for t in form.violence_types.data or []),
            )
        )
    return out
