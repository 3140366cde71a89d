"""One of each record the screens beyond the cases show, made through the services as a person
would make them: the browser tests' every-page sweep and bench/every_screen.py seed them alike."""

from __future__ import annotations

import io
from datetime import timedelta

from caseapp.clock import local_today

# A 1x1 PNG: an activity's material, a case's attachment.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def activity(session, focal, school):
    """A training held today at ``school``, with a leaflet (a file) as its material."""
    from caseapp.services.reports import activities, activity_materials

    made = activities.create(
        session,
        focal,
        school,
        activities.ActivityInput(
            held_on=local_today(),
            kind="training",
            audience="pupils",
            title="Tập huấn",
            results="Học sinh nắm được cách tìm trợ giúp.",
        ),
    )
    activity_materials.add_material(session, focal, made, "Tờ rơi", "to-roi.png", io.BytesIO(PNG))
    return made


def breach(session, officer):
    """A personal-data breach discovered yesterday at the officer's unit, with one action."""
    from caseapp.services.privacy import breaches

    made = breaches.create(
        session,
        officer,
        officer.unit,
        breaches.BreachInput(
            discovered_at=(local_today() - timedelta(days=1)).strftime("%d/%m/%Y 08:00"),
            discovered_by="Cán bộ CNTT",
            description="Mất máy tính xách tay.",
            data_categories=["identity", "contact"],
        ),
    )
    breaches.add_action(session, officer, made, "", "Đổi mật khẩu các tài khoản.")
    return made


def subject_request(session, officer, school, requester: str, subject: str):
    """A guardian's access request received in person at ``school``, acknowledged and searched
    in the name index (its page lists the matches and the export form)."""
    from caseapp.services.privacy import request_matches
    from caseapp.services.privacy import requests as subject_requests

    made = subject_requests.create(
        session,
        officer,
        school,
        subject_requests.RequestInput(
            unit_code=school.code,
            kind="access",
            relation="guardian",
            channel="in_person",
            received_at="",
            requester_name=requester,
            requester_contact="0912 000 000",
            subject_name=subject,
        ),
    )
    subject_requests.acknowledge(session, officer, made, made.version)
    request_matches.search(session, officer, made, made.version)
    return made
