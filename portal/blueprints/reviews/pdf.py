"""The review packet as a PDF, made on the server with fpdf2 (pure Python, no
browser): the same sections as the page, from the packet's frozen content."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.part2 import REDISCLOSURE_NOTICE

NEXT_LINE = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def pdf_text(value) -> str:
    """Text the PDF's built-in font can show: Latin-1 as it is, other letters
    without their accents, anything else as '?'."""
    out = []
    for char in str(value if value is not None else ""):
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", char)
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            out.append(plain if plain.isascii() and plain else "?")
    return "".join(out)


def day_words(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%b %-d, %Y") if iso else "none"


def time_words(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%b %-d, %Y %H:%M UTC") if iso else ""


class _Packet(FPDF):
    def header(self):
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, "Concurrent review packet - confidential", **NEXT_LINE)

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 12)
        self.cell(0, 7, pdf_text(text), **NEXT_LINE)
        self.set_font("Helvetica", "", 10)

    def line_of(self, text: str) -> None:
        self.multi_cell(0, 5, pdf_text(text), **NEXT_LINE)

    def rows(self, header: list[str], rows: list[list], widths: list[int]) -> None:
        self.set_font("Helvetica", "B", 9)
        for text, width in zip(header, widths, strict=True):
            self.cell(width, 6, pdf_text(text), border=1)
        self.ln()
        self.set_font("Helvetica", "", 9)
        for row in rows:
            for text, width in zip(row, widths, strict=True):
                self.cell(width, 6, pdf_text(text)[:60], border=1)
            self.ln()
        self.set_font("Helvetica", "", 10)


def packet_pdf(content: dict) -> bytes:
    """The packet's PDF as bytes."""
    pdf = _Packet(format="Letter")
    pdf.set_title("Concurrent review packet")
    pdf.set_author(pdf_text(content["program"]["name"]))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, pdf_text(content["patient"]["name"]), **NEXT_LINE)
    pdf.set_font("Helvetica", "", 10)
    period = content["period"]
    pdf.line_of(
        f"{content['program']['name']} - review period {day_words(period['first'])}"
        f" to {day_words(period['last'])}; admitted {day_words(content['admitted_on'])}"
    )
    _coverage(pdf, content)
    _attendance(pdf, content["attendance"])
    _scores(pdf, content["scores"])
    _checkins(pdf, content["checkins"])
    _risk(pdf, content["risk"])
    _needs(pdf, content["needs"])
    _team(pdf, content["team"])
    _statement(pdf, content["statement"])
    if content["program"]["part2"]:
        pdf.heading("Notice to the recipient")
        pdf.set_font("Helvetica", "", 8)
        pdf.line_of(REDISCLOSURE_NOTICE)
    made = content["made"]
    pdf.set_font("Helvetica", "", 8)
    pdf.line_of(f"Made {time_words(made['at'])} by {made['by']}.")
    return bytes(pdf.output())


def _coverage(pdf: _Packet, content: dict) -> None:
    cov, auth = content["coverage"], content["authorization"]
    pdf.heading("Coverage and authorization")
    pdf.line_of(
        f"Payer: {cov['payer']}; plan: {cov['plan'] or 'not given'}; member id: "
        f"{cov['member_id']}; {'primary' if cov['primary'] else 'secondary'} payer."
    )
    pdf.line_of(
        f"Authorization {auth['reference']}: {auth['level_of_care']} "
        f"({auth['focus']}), service code {auth['service_code']}, {auth['status']}. "
        f"{auth['units']} days from {day_words(auth['starts_on'])} to "
        f"{day_words(auth['ends_on'])}; next review "
        f"{day_words(auth['next_review_on'])}."
    )


def _attendance(pdf: _Packet, att: dict) -> None:
    pdf.heading("Attendance")
    pdf.line_of(
        f"Days attended: {att['days_attended']}; days that count: "
        f"{att['days_counted']}. Authorized days used: {att['used']}; left: "
        f"{att['left']}."
    )
    rows = [
        [
            f"Week of {day_words(w['monday'])}",
            w["days"],
            w["hours"],
            w["expected"],
            "yes" if w["meets"] else "no",
        ]
        for w in att["weeks"]
    ]
    pdf.rows(["Week", "Days", "Hours", "Expected", "Meets"], rows, [55, 20, 25, 45, 25])
    if att["absences"]:
        pdf.ln(1)
        rows = [
            [day_words(a["day"]), a["session"], a["reason"]] for a in att["absences"]
        ]
        pdf.rows(["Absent on", "Session", "Reason"], rows, [40, 70, 60])
    if att["uncovered"]:
        days = ", ".join(day_words(d) for d in att["uncovered"])
        pdf.line_of(f"Days attended with no authorization: {days}.")


def _scores(pdf: _Packet, scores: dict) -> None:
    pdf.heading("PHQ-9 and GAD-7")
    for name, score in scores.items():
        if score is None:
            pdf.line_of(f"{name}: no score in this period.")
            continue
        first, latest = score["admission"], score["latest"]
        pdf.line_of(
            f"{name}: {first['total']} ({first['severity']}) on "
            f"{day_words(first['on'])} at admission; latest {latest['total']} "
            f"({latest['severity']}) on {day_words(latest['on'])}; change "
            f"{score['change']:+d}."
            + (" Response (down by half or more)." if score["response"] else "")
            + (" Remission (below 5)." if score["remission"] else "")
        )


def _checkins(pdf: _Packet, checkins: dict) -> None:
    pdf.heading("Daily check-ins")
    if not checkins["weeks"]:
        pdf.line_of("No check-ins in this period.")
        return
    rows = [
        [
            day_words(w["monday"]),
            w["count"],
            w["mood"],
            w["craving"],
            w["sleep"],
            w["medication"],
        ]
        for w in checkins["weeks"]
    ]
    pdf.rows(
        ["Week of", "Check-ins", "Mood 0-10", "Craving 0-10", "Sleep h", "Medicine"],
        rows,
        [35, 22, 25, 28, 22, 40],
    )


def _risk(pdf: _Packet, risk: list) -> None:
    pdf.heading("Safety: risk flags and how they were handled")
    if not risk:
        pdf.line_of("No risk flags in this period.")
    for flag in risk:
        pdf.line_of(
            f"{time_words(flag['opened'])}: {flag['source']}. {flag['status']}."
            + (
                f" Taken {time_words(flag['acknowledged'])}."
                if flag["acknowledged"]
                else ""
            )
            + (
                f" Risk level {flag['level']}, by {flag['assessed_by']}."
                if flag["level"]
                else ""
            )
            + (f" Plan: {flag['plan']}" if flag["plan"] else "")
            + (f" Closed {time_words(flag['resolved'])}." if flag["resolved"] else "")
        )


def _needs(pdf: _Packet, needs: list) -> None:
    pdf.heading("Help requests")
    if not needs:
        pdf.line_of("No help requests in this period.")
    for need in needs:
        pdf.line_of(
            f"{time_words(need['asked'])}: {need['kind']}. {need['status']}."
            + (f" Outcome: {need['outcome']}." if need["outcome"] else "")
        )


def _team(pdf: _Packet, team: list) -> None:
    pdf.heading("Care team")
    pdf.line_of("; ".join(f"{m['role']}: {m['name']}" for m in team) or "None named.")


def _statement(pdf: _Packet, statement: dict | None) -> None:
    pdf.heading("Statement of medical necessity")
    if statement is None:
        pdf.line_of("Not signed yet.")
        return
    pdf.line_of(statement["text"])
    pdf.ln(1)
    pdf.set_font("Helvetica", "B", 10)
    pdf.line_of(
        f"Signed by {statement['signer_name']}, {statement['signer_role']}, "
        f"{time_words(statement['signed_at'])} (version {statement['version']})."
    )
    pdf.set_font("Helvetica", "", 10)
