"""The periods the law sets, each with the article it comes from: kept in the database
(LegalPeriod) so a lawyer corrects a number or a citation on the admin screen, without a
release. DEFAULTS is what a new database starts with (migration 0015 seeds the same lines)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.models import LegalPeriod


@dataclass(frozen=True)
class Default:
    key: str
    amount: int
    unit: str  # one of models.privacy.PERIOD_UNITS
    basis: str


LAW = "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15"
DECREE = "Nghị định 356/2025/NĐ-CP"

DEFAULTS: tuple[Default, ...] = (
    # Requests from data subjects (part 1). Checked (issue 15 part 1) against the published
    # text and official summaries of Law 91/2025/QH15: Điều 4 sets the data subject's rights
    # (to know, consent or withdraw consent, see and correct, ask for the data, its deletion or
    # a restriction, object); Điều 9 sets consent. Secondary sources disagree on the articles
    # that detail each right (correction, deletion) and the periods in days come from the
    # decree, whose article numbers could not be checked: the lines cite Điều 4 and the decree,
    # for a lawyer to refine on the admin screen.
    Default("request_acknowledge", 2, "working_days", f"{LAW}, Điều 4; {DECREE}"),
    Default("request_access", 10, "working_days", f"{LAW}, Điều 4 (xem, cung cấp); {DECREE}"),
    Default("request_correction", 10, "working_days", f"{LAW}, Điều 4 (chỉnh sửa); {DECREE}"),
    Default(
        "request_withdrawal",
        15,
        "working_days",
        f"{LAW}, Điều 4 (rút lại sự đồng ý), Điều 9; {DECREE}",
    ),
    Default("request_objection", 15, "working_days", f"{LAW}, Điều 4 (phản đối xử lý); {DECREE}"),
    Default("request_restriction", 15, "working_days", f"{LAW}, Điều 4 (hạn chế xử lý); {DECREE}"),
    Default("request_deletion", 20, "working_days", f"{LAW}, Điều 4 (xóa); {DECREE}"),
    Default("request_extension", 10, "working_days", f"{DECREE} (gia hạn một lần, có lý do)"),
    # Breaches (part 2): calendar hours from discovery to notifying the authority.
    Default("breach_notify", 72, "calendar_hours", f"{LAW}, Điều 23; {DECREE}"),
    # Retention (part 3).
    Default(
        "retention_case_child",
        5,
        "years",
        "Nội dung vụ việc của người chưa thành niên (dưới 18 tuổi): đến khi đủ 18 tuổi "
        "cộng số năm này "
        f"({LAW}, Điều 16; Luật Trẻ em 2016, Điều 33)",
    ),
    Default(
        "retention_case_adult",
        5,
        "years",
        f"Nội dung vụ việc của người đã thành niên: số năm sau khi kết thúc ({LAW}, Điều 16)",
    ),
    Default(
        "retention_attachments",
        2,
        "years",
        f"Tệp đính kèm của vụ việc đã kết thúc: số năm sau khi kết thúc ({LAW}, Điều 16)",
    ),
    # Self-reports (issue 14): the receipt code stops working this long after the report (or
    # the case it became) is closed; its keyed hash is then emptied by the retention run.
    Default(
        "retention_receipts",
        12,
        "months",
        f"Mã biên nhận của báo cáo tự gửi: số tháng sau khi kết thúc ({LAW}, Điều 16)",
    ),
)
BY_KEY = {d.key: d for d in DEFAULTS}


def get(session: Session, key: str) -> LegalPeriod:
    """The period ``key`` in force (the database's line; the default when a line is missing,
    say on a database older than the key)."""
    row = session.get(LegalPeriod, key)
    if row is not None:
        return row
    d = BY_KEY[key]
    return LegalPeriod(key=d.key, amount=d.amount, unit=d.unit, basis=d.basis)


def all_periods(session: Session) -> list[LegalPeriod]:
    """Every line, in the order of DEFAULTS."""
    rows = {p.key: p for p in session.scalars(select(LegalPeriod))}
    return [rows.get(d.key) or get(session, d.key) for d in DEFAULTS]
