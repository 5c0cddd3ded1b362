"""The demo program: fixed sign-ins for trying every role, with a week of life in it."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    LevelOfCare,
    Program,
    StaffMembership,
    TeamRole,
    Track,
)
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentChange,
    AppointmentKind,
    Attendance,
    AttendanceStatus,
    GroupSession,
    NoticeKind,
    NoticeReason,
    SessionKind,
    SessionNotice,
)
from portal.db import new_id, utcnow
from portal.security import Role

DEMO_PASSWORD = "demo-portal-2026"  # noqa: S105 - published demo sign-in, demo only
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - published demo secret

DEMO_ACCOUNTS = [
    ("patient@demo.test", Role.PATIENT, "Jordan Rivera"),
    ("patient2@demo.test", Role.PATIENT, "Casey Nguyen"),
    ("peer@demo.test", Role.PEER, "Alex Morgan"),
    ("casemanager@demo.test", Role.CASE_MANAGER, "Priya Shah"),
    ("therapist@demo.test", Role.THERAPIST, "Dana Brooks"),
    ("prescriber@demo.test", Role.PRESCRIBER, "Dr. Lee Park"),
    ("nurse@demo.test", Role.NURSE, "Maria Lopez"),
    ("director@demo.test", Role.DIRECTOR, "Chris Adeyemi"),
    ("admin@demo.test", Role.ADMIN, "Robin Hale"),
]
MORE_PATIENTS = [
    "Taylor Kim",
    "Sam Patel",
    "Jamie Fox",
    "Riley Chen",
    "Morgan Diaz",
    "Avery Cole",
    "Quinn Baker",
    "Drew Ellis",
    "Jesse Ward",
    "Kai Romero",
]
TEAM_OF_ROLE = {
    Role.THERAPIST: TeamRole.THERAPIST,
    Role.PRESCRIBER: TeamRole.PRESCRIBER,
    Role.NURSE: TeamRole.NURSE,
    Role.CASE_MANAGER: TeamRole.CASE_MANAGER,
    Role.PEER: TeamRole.PEER,
}

# (title, kind, start, end) per track; weekdays per track below.
PHP_DAY = [
    ("Morning check-in group", SessionKind.GROUP, "09:00", "09:45", "Room 101"),
    ("Coping skills (DBT)", SessionKind.GROUP, "10:00", "11:00", "Room 101"),
    ("Break", SessionKind.BREAK, "11:00", "11:15", None),
    ("Relapse prevention", SessionKind.GROUP, "11:15", "12:15", "Room 102"),
    ("Lunch", SessionKind.BREAK, "12:15", "13:00", "Kitchen"),
    ("Process group", SessionKind.GROUP, "13:00", "14:00", "Room 101"),
    (
        "Wellness and medication education",
        SessionKind.EDUCATION,
        "14:15",
        "15:00",
        "Room 103",
    ),
]
IOP_DAY = [
    ("Check-in group", SessionKind.GROUP, "09:00", "09:45", "Room 201"),
    ("Coping skills (DBT)", SessionKind.GROUP, "10:00", "11:00", "Room 201"),
    ("Break", SessionKind.BREAK, "11:00", "11:10", None),
    ("Recovery group", SessionKind.GROUP, "11:10", "12:00", "Room 201"),
]
PHP_WEEKDAYS, IOP_WEEKDAYS = [0, 1, 2, 3, 4], [0, 1, 3]
TELEHEALTH = "https://telehealth.example.org/room/"


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _make_tracks(session: Session, program: Program, facilitator: User | None) -> dict:
    tracks = {}
    for name, level, day, weekdays in (
        ("PHP Full Day", LevelOfCare.PHP, PHP_DAY, PHP_WEEKDAYS),
        ("IOP Mornings", LevelOfCare.IOP, IOP_DAY, IOP_WEEKDAYS),
    ):
        track = Track(
            id=new_id(), program_id=program.id, name=name, level_of_care=level
        )
        session.add(track)
        session.flush()  # no ORM relationship orders group sessions after their track
        for weekday in weekdays:
            for title, kind, start, end, room in day:
                session.add(
                    GroupSession(
                        track_id=track.id,
                        title=title,
                        kind=kind,
                        weekday=weekday,
                        starts_at=_hhmm(start),
                        ends_at=_hhmm(end),
                        room=room,
                        facilitator_id=facilitator.id
                        if facilitator and kind is SessionKind.GROUP
                        else None,
                        telehealth_url=f"{TELEHEALTH}{track.id[:8]}"
                        if weekday == 3 and kind is SessionKind.GROUP
                        else None,
                    )
                )
        tracks[level] = track
    return tracks


def create_demo(session: Session) -> bool:
    """Create the demo program once; returns False when it is already there."""
    if session.scalar(select(User.id).where(User.email == "patient@demo.test")):
        return False
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    program = Program(
        id=new_id(),
        name="Riverside Day Program",
        app_name="Riverside",
        timezone="America/New_York",
        on_call_phone="+1-555-010-0199",
    )
    session.add(program)
    users = {}
    for email, role, name in DEMO_ACCOUNTS:
        users[email] = User(
            id=new_id(),
            email=email,
            display_name=name,
            role=role,
            password_hash=password_hash,
            totp_secret=DEMO_TOTP_SECRET if role.is_staff else None,
            totp_enabled=role.is_staff,
            welcome_seen_at=utcnow(),
        )
        session.add(users[email])
        if role.is_staff:
            session.add(StaffMembership(user_id=users[email].id, program_id=program.id))
    session.flush()
    tracks = _make_tracks(session, program, users["therapist@demo.test"])
    staff = [u for u in users.values() if u.role in TEAM_OF_ROLE]
    patients = [users["patient@demo.test"], users["patient2@demo.test"]]
    for n, name in enumerate(MORE_PATIENTS, start=3):
        patient = User(
            id=new_id(),
            email=f"patient{n}@demo.test",
            display_name=name,
            role=Role.PATIENT,
            password_hash=password_hash,
            welcome_seen_at=utcnow(),
        )
        session.add(patient)
        patients.append(patient)
    patients.append(_phone_only_patient(password_hash))
    session.add(patients[-1])
    session.flush()
    _enroll_demo_patients(session, program, tracks, patients, staff)
    _demo_risk_settings(session, program, users)
    _demo_checkins(session, program, patients)
    _demo_needs(session, program, users, patients)
    _demo_notices(session, program, tracks, patients)
    _demo_appointment_change(session, patients[3])
    _demo_messages(session, program, users, patients)
    _demo_record(session, program, patients)
    _demo_reviews(session, program, users, patients)
    _demo_history(session, program, tracks, users, password_hash)
    _demo_huddle(session, program, users, patients)
    _demo_alumni(session, program, patients, users)
    return True


def _demo_huddle(session, program, users, patients) -> None:
    """Riley at risk, Quinn not checking in, Kai's ride overdue, yesterday's huddle."""
    from portal.blueprints.staff.demo import create_demo_huddle

    create_demo_huddle(session, program, users, patients)


ALUMNI_NAME = "Jesse Ward"


def _demo_alumni(session, program, patients, users) -> None:
    """One patient discharged last week into step-down, with an aftercare plan."""
    alumnus = next(p for p in patients if p.display_name == ALUMNI_NAME)
    enrollment = session.scalar(
        select(Enrollment).where(Enrollment.patient_id == alumnus.id)
    )
    today = utcnow().astimezone(ZoneInfo(program.timezone)).date()
    enrollment.status = EnrollmentStatus.ALUMNI
    enrollment.discharged_on = today - timedelta(days=today.weekday() + 3)
    enrollment.discharged_by_id = users["therapist@demo.test"].id
    enrollment.aftercare_appointments = (
        "Dr. Ames (therapy), Riverside Outpatient Clinic, 40 Main St: Tuesdays at "
        "10 AM, starting next week. 617-555-0160.\n"
        "Medication check with Dr. Lee Park: in 4 weeks; the clinic will call."
    )
    enrollment.aftercare_help = (
        "Call or text 988 any time (press 2 for Spanish). In danger now: call 911.\n"
        "SMART Recovery meeting: Thursdays 6 PM, Riverside Library.\n"
        "You can still message Alex, your peer specialist, here."
    )


# A patient with no email, who signs in with her mobile number, reads Spanish best
# and has not signed in yet (the welcome opens on her first sign-in).
PHONE_PATIENT_NUMBER = "+16175550142"
PHONE_PATIENT_NAME = "Luz Herrera"


def _phone_only_patient(password_hash: str) -> User:
    return User(
        id=new_id(),
        email=None,
        phone=PHONE_PATIENT_NUMBER,
        display_name=PHONE_PATIENT_NAME,
        role=Role.PATIENT,
        preferred_language="es",
        password_hash=password_hash,
    )


# Preferred names, pronouns and emergency contacts of some demo patients, by index.
DEMO_DETAILS = {
    0: ("Jo", "they/them", ("Sam Rivera", "brother", "+16175550190")),
    1: (None, "she/her", ("Linh Nguyen", "mother", "+12125550143")),
    4: (None, "he/him", None),
}


def _patient_details(index: int, patient: User) -> dict:
    """Birth date, preferred name, pronouns, emergency contact and mobile number of
    a demo patient. Numbers come from the 555-01xx range kept for fiction."""
    name, pronouns, contact = DEMO_DETAILS.get(index, (None, None, None))
    if patient.phone is None and index != 3:  # one has none yet, for admin to add
        patient.phone = f"+1617555{index + 100:04d}"
    return {
        "date_of_birth": date(1970 + (index * 7) % 35, 1 + index % 12, 1 + index % 27),
        "preferred_name": name,
        "pronouns": pronouns,
        "emergency_name": contact[0] if contact else None,
        "emergency_relationship": contact[1] if contact else None,
        "emergency_phone": contact[2] if contact else None,
        "mobile_phone": patient.phone,
    }


def _demo_reviews(session, program, users, patients) -> None:
    """Jordan: 2 days left, review tomorrow, signed packet, and a consent to send it
    to the insurer for payment; Casey: attending with no authorization."""
    from portal.blueprints.record.sharing import give_payment_consent
    from portal.blueprints.reviews.demo import create_demo_reviews

    patient, payer = create_demo_reviews(session, program, users, patients)
    give_payment_consent(patient, program.id, payer, "12")


PAST_FIRST = [
    "Ari",
    "Blake",
    "Cam",
    "Dev",
    "Eden",
    "Finn",
    "Gray",
    "Hollis",
    "Indy",
    "Jules",
    "Kit",
    "Lane",
    "Marlo",
    "Noel",
    "Oak",
    "Parker",
    "Reese",
    "Sky",
]
PAST_LAST = [
    "Abbott",
    "Banks",
    "Carver",
    "Dunn",
    "Estes",
    "Frost",
    "Gale",
    "Hayes",
    "Irwin",
    "Joyce",
    "Kemp",
    "Lowe",
    "Mercer",
]


def _demo_history(session, program, tracks, users, password_hash) -> None:
    """Half a year of patients who came and went, so that the director's board and
    the audit report show something real; none of them is on a demo clinician's
    caseload, and none has a request still open."""
    from portal.demo_history import Cast, insert_audit_rows, make_history

    rng = random.Random(2027)  # noqa: S311 - demo data, not security
    people = []
    for n in range(120):
        name = f"{PAST_FIRST[n % len(PAST_FIRST)]} {PAST_LAST[n % len(PAST_LAST)]}"
        people.append(
            User(
                id=new_id(),
                email=f"past{n}@demo.test",
                display_name=name,
                role=Role.PATIENT,
                password_hash=password_hash,
            )
        )
    session.add_all(people)
    session.flush()
    staff = {u.role: u for u in users.values() if u.role.is_staff}
    cast = Cast(program, tracks, staff)
    made = make_history(
        session, cast, [p.id for p in people], 26, utcnow(), rng, open_requests=False
    )
    insert_audit_rows(session, made.audit)
    # The demo's people are the twelve on the sign-in sheet: the past ones have all
    # gone home, so no clinician, peer or reviewer finds a stranger in their lists.
    session.execute(
        update(Enrollment)
        .where(
            Enrollment.patient_id.in_([p.id for p in people]),
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .values(
            status=EnrollmentStatus.DISCHARGED,
            discharged_on=utcnow().date(),
        )
    )


def _demo_messages(session, program, users, patients) -> None:
    """Conversations with the peer specialist; a second peer who can cover."""
    from portal.blueprints.messages.demo import create_demo_messages

    create_demo_messages(session, program, users, patients)


def _demo_record(session, program, patients) -> None:
    """A registered EHR (County Clinic) and one patient's consent to it."""
    from portal.blueprints.record.demo import create_demo_record

    create_demo_record(session, program, patients)


def _demo_needs(session, program, users, patients) -> None:
    """A ride, rent help, food help nobody has taken yet, a phone arranged."""
    from portal.blueprints.needs.demo import create_demo_needs

    create_demo_needs(session, program, users, patients)


def _demo_risk_settings(session, program, users) -> None:
    """The nurse is on call, the therapist is the backup, the prescriber after hours."""
    from portal.blueprints.safety.models import RiskSettings

    session.add(
        RiskSettings(
            program_id=program.id,
            on_call_id=users["nurse@demo.test"].id,
            backup_id=users["therapist@demo.test"].id,
            after_hours_id=users["prescriber@demo.test"].id,
        )
    )


def _demo_checkins(session, program, patients) -> None:
    """Three weeks of daily check-ins and weekly screeners, drifting better, for trends.
    Nobody in the demo starts with a risk answer: try one to see the crisis loop."""
    from decimal import Decimal

    from portal.blueprints.checkins.instruments import QUESTIONNAIRES, Instrument
    from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse

    tz = ZoneInfo(program.timezone)
    today = utcnow().astimezone(tz).date()
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    for patient in patients:
        for back in range(21, 0, -1):
            if rng.random() < 0.15:
                continue  # a missed day now and then
            better = (21 - back) / 21
            session.add(
                CheckIn(
                    patient_id=patient.id,
                    local_date=today - timedelta(days=back),
                    mood=min(10, 3 + round(4 * better) + rng.randint(0, 2)),
                    craving=max(0, 7 - round(4 * better) - rng.randint(0, 2)),
                    sleep_hours=Decimal(
                        str(5 + rng.choice([0, 0.5, 1]) + round(better))
                    ),
                    medication=Medication.YES if rng.random() < 0.85 else Medication.NO,
                    feels_safe=True,
                    idempotency_key=new_id(),
                )
            )
        for week, back in enumerate((21, 14, 7)):
            when = datetime.combine(today - timedelta(days=back), time(10), tz)
            phq = [max(0, 2 - week + rng.randint(-1, 1)) for _ in range(8)] + [0]
            gad = [max(0, 2 - week + rng.randint(-1, 1)) for _ in range(7)]
            for instrument, answers in ((Instrument.PHQ9, phq), (Instrument.GAD7, gad)):
                total = sum(answers)
                session.add(
                    ScreenerResponse(
                        patient_id=patient.id,
                        instrument=instrument,
                        answers=answers,
                        total=total,
                        severity=QUESTIONNAIRES[instrument].band(total),
                        idempotency_key=new_id(),
                        completed_at=when,
                    )
                )


def _enroll_demo_patients(session, program, tracks, patients, staff) -> None:
    tz = ZoneInfo(program.timezone)
    today = utcnow().astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    for index, patient in enumerate(patients):
        level = LevelOfCare.PHP if index % 2 == 0 else LevelOfCare.IOP
        track = tracks[level]
        session.add(
            Enrollment(
                patient_id=patient.id,
                program_id=program.id,
                track_id=track.id,
                level_of_care=level,
                admitted_on=monday - timedelta(days=7 * (index % 4) + 7),
                **_patient_details(index, patient),
            )
        )
        for member in staff:
            session.add(
                CareTeamAssignment(
                    patient_id=patient.id,
                    staff_id=member.id,
                    team_role=TEAM_OF_ROLE[member.role],
                )
            )
        _demo_appointments(session, tz, monday, patient, staff, index)
        _demo_attendance(session, track, patient, monday, today, staff[0], rng)


def _demo_appointments(session, tz, monday, patient, staff, index) -> None:
    by_role = {member.role: member for member in staff}
    for week in (0, 1):
        therapy_day = monday + timedelta(days=7 * week + (index % 3) + 1)
        starts = datetime.combine(therapy_day, time(15, 30), tz)
        session.add(
            Appointment(
                patient_id=patient.id,
                staff_id=by_role[Role.THERAPIST].id,
                kind=AppointmentKind.THERAPY,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=50),
                room="Office 3",
            )
        )
    med_day = monday + timedelta(days=2)
    starts = datetime.combine(med_day, time(8, 15 + (index % 3) * 10), tz)
    session.add(
        Appointment(
            patient_id=patient.id,
            staff_id=by_role[Role.PRESCRIBER].id,
            kind=AppointmentKind.MEDICATION,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=20),
            telehealth_url=f"{TELEHEALTH}med-{patient.id[:8]}",
        )
    )


def _demo_attendance(session, track, patient, monday, today, recorder, rng) -> None:
    sessions = session.scalars(
        select(GroupSession).where(
            GroupSession.track_id == track.id, GroupSession.kind == SessionKind.GROUP
        )
    ).all()
    statuses = [AttendanceStatus.PRESENT] * 8 + [
        AttendanceStatus.LATE,
        AttendanceStatus.ABSENT,
    ]
    for group in sessions:
        day = monday + timedelta(days=group.weekday)
        if day < today:
            session.add(
                Attendance(
                    patient_id=patient.id,
                    group_session_id=group.id,
                    occurs_on=day,
                    status=rng.choice(statuses),
                    recorded_by_id=recorder.id,
                )
            )


def _demo_notices(session, program, tracks, patients) -> None:
    """Today, or the next day the PHP track meets: Taylor will be late to the first
    group, the bus is behind; Jamie cannot come, sick, and is excused for the day."""
    tz = ZoneInfo(program.timezone)
    today = utcnow().astimezone(tz).date()
    groups = session.scalars(
        select(GroupSession)
        .where(
            GroupSession.track_id == tracks[LevelOfCare.PHP].id,
            GroupSession.kind == SessionKind.GROUP,
        )
        .order_by(GroupSession.starts_at)
    ).all()
    meets = {g.weekday for g in groups}
    if not meets:
        return
    day = next(
        today + timedelta(days=n)
        for n in range(7)
        if (today.weekday() + n) % 7 in meets
    )
    groups = [g for g in groups if g.weekday == day.weekday()]
    late, away = patients[2], patients[4]
    session.add(
        SessionNotice(
            patient_id=late.id,
            group_session_id=groups[0].id,
            occurs_on=day,
            kind=NoticeKind.LATE,
            reason=NoticeReason.RIDE,
            note="Bus 14 is running about 20 minutes behind.",
        )
    )
    for group in groups:
        session.add(
            SessionNotice(
                patient_id=away.id,
                group_session_id=group.id,
                occurs_on=day,
                kind=NoticeKind.ABSENT,
                reason=NoticeReason.SICK,
            )
        )
        session.add(
            Attendance(
                patient_id=away.id,
                group_session_id=group.id,
                occurs_on=day,
                status=AttendanceStatus.EXCUSED,
                recorded_by_id=away.id,
            )
        )


def _demo_appointment_change(session, patient) -> None:
    """Sam asks to move next week's therapy to the morning after (work shift)."""
    session.flush()
    therapy = session.scalars(
        select(Appointment)
        .where(
            Appointment.patient_id == patient.id,
            Appointment.kind == AppointmentKind.THERAPY,
            Appointment.starts_at > utcnow(),
        )
        .order_by(Appointment.starts_at.desc())
    ).first()
    if therapy is None:
        return
    session.add(
        AppointmentChange(
            appointment_id=therapy.id,
            patient_id=patient.id,
            was_starts_at=therapy.starts_at,
            wanted_at=therapy.starts_at + timedelta(hours=18),
            note="I got an afternoon shift that day. Mornings work.",
        )
    )


# ---- scale data ---------------------------------------------------------------------
