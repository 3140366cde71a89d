"""The breach notification sent to the authority (the fields of the form of Decree 356/2025):
the controller, a contact person, when the breach was discovered, what happened, the
categories and approximate number of people and records, likely consequences, the measures
taken or proposed, whether the people affected are told, and why any notice came after 72
hours. Written as DOCX in the layout of an administrative document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from caseapp.clock import local_today
from caseapp.labels import breach_category_names, notify_people_names
from caseapp.services.privacy.breaches import (
    categories_of,
    deadline,
    notify_hours,
    overdue,
    shown_moment,
    units_of,
)
from caseapp.services.reports.exports import closed_document, date_line, heading_block, new_document

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.models.privacy import Breach

TITLE = "THÔNG BÁO VI PHẠM QUY ĐỊNH VỀ BẢO VỆ DỮ LIỆU CÁ NHÂN"


def _consequences(breach: Breach) -> list[str]:
    """What the unit wrote; the standard assessment by the categories when it wrote nothing."""
    if breach.consequences:
        return breach.consequences.splitlines()
    sensitive = {"case_content", "health", "sexual_life", "children", "family"}
    if sensitive & set(categories_of(breach)):
        return [
            "Dữ liệu cá nhân nhạy cảm (trong đó có dữ liệu của trẻ em hoặc nội dung vụ việc) có "
            "thể bị người không có thẩm quyền tiếp cận; nguy cơ gây tổn hại về tinh thần, danh "
            "dự, an toàn của chủ thể dữ liệu. Đơn vị đánh giá và bổ sung cụ thể."
        ]
    return [
        "Dữ liệu cá nhân cơ bản có thể bị người không có thẩm quyền tiếp cận. "
        "Đơn vị đánh giá và bổ sung cụ thể."
    ]


def _people(breach: Breach) -> str:
    if breach.people_affected is None:
        return "Chưa xác định được"
    return f"Khoảng {breach.people_affected} người"


def _records(breach: Breach) -> str:
    if breach.records_affected is None:
        return "Chưa xác định được"
    return f"Khoảng {breach.records_affected} bản ghi"


def _late(breach: Breach) -> list[str]:
    if breach.authority_notified_at is not None and not overdue(breach):
        return [f"Không (thông báo trong thời hạn {notify_hours(breach)} giờ)."]
    if breach.delay_reason:
        return breach.delay_reason.splitlines()
    return ["……"]  # not yet notified and past the deadline: the unit writes why by hand


def notification_docx(breach: Breach, contact: User) -> bytes:
    """The notification of ``breach``, with ``contact`` (the person exporting it) as the
    contact person."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    unit = breach.unit
    parent_name = unit.parent.name if unit.parent is not None else ""
    doc = new_document()
    heading_block(
        doc,
        parent_name,
        unit.name,
        f"Số: ……/TB-{unit.code}",
        date_line("……", local_today()),
    )
    doc.add_paragraph()
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run(TITLE).bold = True
    ref = doc.add_paragraph(f"Mã sự cố: {breach.reference}")
    ref.alignment = WD_ALIGN_PARAGRAPH.CENTER

    categories = breach_category_names()
    decision = notify_people_names()
    actions = [f"- {shown_moment(a.taken_at)}: {a.text}" for a in breach.actions] or [
        "- (chưa ghi nhận biện pháp)"
    ]
    sections: list[tuple[str, list[str]]] = [
        (
            "Bên Kiểm soát dữ liệu cá nhân",
            [f"Đơn vị: {unit.name} (mã {unit.code})", f"Cơ quan chủ quản: {parent_name or '—'}"],
        ),
        (
            "Người liên hệ",
            [f"Họ và tên: {contact.full_name or contact.username}", "Chức vụ, điện thoại: ……"],
        ),
        (
            "Thời gian",
            [
                f"Thời điểm phát hiện: {shown_moment(breach.discovered_at)}",
                f"Người phát hiện: {breach.discovered_by}",
                "Thời điểm xảy ra vi phạm (nếu xác định được): "
                + (shown_moment(breach.occurred_at) or "chưa xác định được"),
                f"Thời điểm ngăn chặn: {shown_moment(breach.contained_at) or 'chưa'}",
                f"Hạn thông báo ({notify_hours(breach)} giờ): {shown_moment(deadline(breach))}",
            ],
        ),
        ("Mô tả vi phạm", breach.description.splitlines() or ["—"]),
        (
            "Loại dữ liệu cá nhân, số lượng chủ thể và bản ghi liên quan",
            [f"- {categories.get(c, c)}" for c in categories_of(breach)]
            + [
                f"Số chủ thể dữ liệu (ước tính): {_people(breach)}",
                f"Số bản ghi (ước tính): {_records(breach)}",
                f"Đơn vị bị ảnh hưởng: {', '.join(units_of(breach))}",
            ],
        ),
        ("Hậu quả có thể xảy ra", _consequences(breach)),
        ("Biện pháp đã thực hiện hoặc đề xuất", actions),
        (
            "Thông báo cho chủ thể dữ liệu",
            [
                decision.get(breach.notify_people, breach.notify_people),
                *([f"Lý do: {breach.notify_people_reason}"] if breach.notify_people_reason else []),
                *(
                    [f"Đã thông báo lúc: {shown_moment(breach.people_notified_at)}"]
                    if breach.people_notified_at
                    else []
                ),
            ],
        ),
        (f"Lý do thông báo sau {notify_hours(breach)} giờ (nếu có)", _late(breach)),
    ]
    for number, (heading, lines) in enumerate(sections, start=1):
        doc.add_paragraph().add_run(f"{number}. {heading}").bold = True
        for line in lines:
            doc.add_paragraph(line)
    return closed_document(doc)
