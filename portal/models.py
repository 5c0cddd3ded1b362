"""Every feature's models, imported in one place for Alembic and the shell."""

from portal.audit import AuditChainHead, AuditEvent
from portal.blueprints.auth.models import (
    EnrollmentCode,
    SignInThrottle,
    User,
    WebSession,
)
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
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
from portal.blueprints.programs.models import (
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    Program,
    StaffMembership,
    Track,
)
from portal.blueprints.record.models import (
    Disclosure,
    FhirClient,
    FhirToken,
    RecordConsent,
)
from portal.blueprints.reviews.models import (
    Authorization,
    Coverage,
    CoverageChange,
    NecessityStatement,
    ReviewFile,
    ReviewPacket,
)
from portal.blueprints.safety.models import (
    OutboundPage,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    SafetyPlan,
)
from portal.blueprints.schedule.models import (
    Appointment,
    Attendance,
    CalendarFeed,
    GroupSession,
)
from portal.blueprints.staff.models import Huddle, HuddleAction, HuddleNote
from portal.db import Base
from portal.security import Role

__all__ = [
    "AccessGrant",
    "Appointment",
    "Attendance",
    "AuditChainHead",
    "AuditEvent",
    "Authorization",
    "Base",
    "CalendarFeed",
    "CareTeamAssignment",
    "CaseManagerAway",
    "CheckIn",
    "Coverage",
    "CoverageChange",
    "CrisisPhraseList",
    "Disclosure",
    "Enrollment",
    "EnrollmentCode",
    "FhirClient",
    "FhirToken",
    "GroupSession",
    "Huddle",
    "HuddleAction",
    "HuddleNote",
    "Message",
    "MessageConsent",
    "MessageThread",
    "NecessityStatement",
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
    "ReviewFile",
    "ReviewPacket",
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
