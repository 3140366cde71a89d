"""Typed SQLAlchemy models, one module per domain."""

from caseapp.models.approvals import ApprovalRequest, AttentionReview, EnrolmentCode
from caseapp.models.audit import AuditCheckpoint, AuditEvent
from caseapp.models.cases import (
    Case,
    CaseAttachment,
    CaseConsent,
    CaseCounter,
    CaseExclusion,
    CaseInformant,
    CaseNameIndex,
    CaseNote,
    CasePerson,
    CaseViolenceType,
)
from caseapp.models.equality import (
    ActivityMaterial,
    ActivityTarget,
    GenderPlan,
    PlanTarget,
    UnitStatistics,
    WorkReportDraft,
)
from caseapp.models.keys import KeyringKey
from caseapp.models.privacy import Breach, BreachAction
from caseapp.models.reports import Activity, ReportSnapshot
from caseapp.models.steps import CaseStep, CaseTransition, Notification
from caseapp.models.units import ReferralContact, Unit, UnitParentHistory
from caseapp.models.users import (
    Grant,
    RecoveryCode,
    SignInThrottle,
    User,
    UserSession,
)

# Models whose every change must be flushed together with an AuditEvent.
AUDITED_MODELS = (
    Unit,
    UnitParentHistory,
    ReferralContact,
    User,
    Grant,
    RecoveryCode,
    Case,
    CasePerson,
    CaseViolenceType,
    CaseInformant,
    CaseNote,
    CaseAttachment,
    CaseConsent,
    CaseExclusion,
    CaseNameIndex,
    CaseStep,
    CaseTransition,
    Activity,
    ActivityTarget,
    ActivityMaterial,
    GenderPlan,
    PlanTarget,
    UnitStatistics,
    WorkReportDraft,
    ReportSnapshot,
    Breach,
    BreachAction,
    ApprovalRequest,
    EnrolmentCode,
    AttentionReview,
)

__all__ = [
    "Activity",
    "ActivityMaterial",
    "ActivityTarget",
    "GenderPlan",
    "PlanTarget",
    "UnitStatistics",
    "WorkReportDraft",
    "ApprovalRequest",
    "AttentionReview",
    "EnrolmentCode",
    "ReportSnapshot",
    "AUDITED_MODELS",
    "Breach",
    "BreachAction",
    "AuditCheckpoint",
    "AuditEvent",
    "Case",
    "CaseAttachment",
    "CaseConsent",
    "CaseCounter",
    "CaseExclusion",
    "CaseInformant",
    "CaseNameIndex",
    "CaseNote",
    "CasePerson",
    "CaseStep",
    "CaseTransition",
    "Notification",
    "CaseViolenceType",
    "Grant",
    "KeyringKey",
    "RecoveryCode",
    "ReferralContact",
    "SignInThrottle",
    "Unit",
    "UnitParentHistory",
    "User",
    "UserSession",
]
