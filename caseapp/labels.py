"""Translated names for the codes of the domain (roles, unit kinds, referral services)."""

from __future__ import annotations

from flask_babel import gettext as _


def role_names() -> dict[str, str]:
    return {"focal_point": _("Focal point"), "officer": _("Officer"),
            "auditor": _("Auditor"), "admin": _("Administrator")}


def unit_kind_names() -> dict[str, str]:
    return {"ministry": _("Ministry"), "province": _("Province"), "district": _("District"),
            "commune": _("Commune"), "school": _("School")}


def referral_kind_names() -> dict[str, str]:
    return {"hotline": _("Hotline"), "commune_committee": _("Commune People's Committee"),
            "police": _("Police"), "health_station": _("Health station"),
            "social_protection": _("Social protection centre"), "legal_aid": _("Legal aid"),
            "other": _("Other")}


def labels() -> dict:
    return {"ROLE_NAMES": role_names(), "UNIT_KIND_NAMES": unit_kind_names(),
            "REFERRAL_KIND_NAMES": referral_kind_names()}
