"""Every feature's models, imported in one place for Alembic and the shell."""

from portal.audit import AuditChainHead, AuditEvent
from portal.blueprints.auth.models import (
    EnrollmentCode,
    Role,
    SignInThrottle,
    User,
    WebSession,
)
from portal.blueprints.checkins.models import (
    CheckIn,
    OutboundPage,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    SafetyPlan,
    ScreenerResponse,
)
from portal.blueprints.messages.models import (
    CrisisPhraseList,
    Message,
    MessageConsent,
    MessageThread,
    PeerAvailability,
    PeerContact,
    ThreadFlag,
    ThreadRead,
)
from portal.blueprints.needs.models import (
    CaseManagerAway,
    Need,
    NeedEvent,
    NeedSlaRule,
)
from portal.blueprints.notifications.models import (
    Notification,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
    ReminderRun,
)
from portal.blueprints.record.models import (
    Disclosure,
    FhirClient,
    FhirToken,
    RecordConsent,
)
from portal.blueprints.schedule.models import (
    Appointment,
    Attendance,
    CalendarFeed,
    GroupSession,
)
from portal.blueprints.staff.models import (
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    Program,
    StaffMembership,
    Track,
)
from portal.db import Base

__all__ = [
    "AccessGrant",
    "Appointment",
    "Attendance",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "CalendarFeed",
    "CareTeamAssignment",
    "CaseManagerAway",
    "CheckIn",
    "CrisisPhraseList",
    "Disclosure",
    "Enrollment",
    "EnrollmentCode",
    "FhirClient",
    "FhirToken",
    "GroupSession",
    "Message",
    "MessageConsent",
    "MessageThread",
    "Need",
    "NeedEvent",
    "NeedSlaRule",
    "Notification",
    "NotificationPreference",
    "OutboundPage",
    "PeerAvailability",
    "PeerContact",
    "Program",
    "PushDelivery",
    "PushSubscription",
    "RecordConsent",
    "ReminderRun",
    "RiskFlag",
    "RiskFlagEvent",
    "RiskSettings",
    "Role",
    "SafetyPlan",
    "ScreenerResponse",
    "SignInThrottle",
    "StaffMembership",
    "ThreadFlag",
    "ThreadRead",
    "Track",
    "User",
    "WebSession",
]
