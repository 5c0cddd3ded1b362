"""The screeners' exact wording, LOINC codes, scoring and severity bands.

PHQ-9 and GAD-7: Spitzer, Williams, Kroenke and colleagues (public domain, no permission
needed). C-SSRS screener, recent version: Columbia Lighthouse Project (free to use in
clinical settings); its wording is kept exactly.

We never translate an instrument ourselves. Its Spanish is the published, validated
version, kept here as data beside the English and chosen by the page's language:

- PHQ-9 and GAD-7 in Spanish: the validated "Spanish for USA" versions by Pfizer,
  distributed with the instruments at https://www.phqscreeners.com (LOINC also carries
  Spanish variants of panels 44249-1 and 69737-5). Their titles are those versions'
  own: "Cuestionario sobre la salud del paciente (PHQ-9)" and "Escala del trastorno de
  ansiedad generalizada (GAD-7)". The LOINC codes of items and answers are the same
  in every language.
- C-SSRS screener: its Spanish version is distributed by the Columbia Lighthouse
  Project on request and we do not hold its text, so it is shown in English to every
  patient, its Yes/No answers and its follow-up question too (the page says so in
  Spanish above it, and marks the items lang="en"); its responses are stored as "en".

The severity band labels are not instrument wording: the pages show them in the
patient's language through `severity_words` (the stored label stays English).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Instrument(StrEnum):
    PHQ9 = "phq9"
    GAD7 = "gad7"
    CSSRS = "cssrs"


@dataclass(frozen=True)
class Answer:
    value: int
    text: str
    loinc: str | None = None


@dataclass(frozen=True)
class Item:
    text: str
    loinc: str


@dataclass(frozen=True)
class Band:
    low: int
    high: int
    label: str


@dataclass(frozen=True)
class Wording:
    """A published translation of an instrument, word for word as its source prints
    it: the title, the stem, each item and each answer, in the English order."""

    title: str
    stem: str
    items: tuple[str, ...]
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Questionnaire:
    instrument: Instrument
    title: str
    short_title: str
    stem: str
    panel_loinc: str
    total_loinc: str | None
    items: tuple[Item, ...]
    answers: tuple[Answer, ...]
    bands: tuple[Band, ...] = ()
    # The published versions in other languages, by language code.
    translations: tuple[tuple[str, Wording], ...] = ()
    # The language this questionnaire's words are in.
    language: str = "en"

    @property
    def max_score(self) -> int:
        return len(self.items) * max(a.value for a in self.answers)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages it has a published wording in, English first."""
        return ("en", *(code for code, _wording in self.translations))

    def worded_in(self, language: str) -> Questionnaire:
        """The questionnaire in its published version in `language`; in English when
        there is none (never our own translation)."""
        wording = dict(self.translations).get(language)
        if wording is None:
            return self
        return replace(
            self,
            title=wording.title,
            stem=wording.stem,
            items=tuple(
                replace(item, text=text)
                for item, text in zip(self.items, wording.items, strict=True)
            ),
            answers=tuple(
                replace(answer, text=text)
                for answer, text in zip(self.answers, wording.answers, strict=True)
            ),
            translations=(),
            language=language,
        )

    def band(self, total: int) -> str:
        return next(b.label for b in self.bands if b.low <= total <= b.high)


FREQUENCY = (
    Answer(0, "Not at all", "LA6568-5"),
    Answer(1, "Several days", "LA6569-3"),
    Answer(2, "More than half the days", "LA6570-1"),
    Answer(3, "Nearly every day", "LA6571-9"),
)
YES_NO = (Answer(1, "Yes", "LA33-6"), Answer(0, "No", "LA32-8"))

# Pfizer's "Spanish for USA" PHQ-9 (phqscreeners.com), word for word.
PHQ9_ES = Wording(
    "Cuestionario sobre la salud del paciente (PHQ-9)",
    "Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los "
    "siguientes problemas?",
    (
        "Poco interés o placer en hacer cosas",
        "Se ha sentido decaído(a), deprimido(a) o sin esperanzas",
        "Ha tenido dificultad para quedarse o permanecer dormido(a), o ha dormido "
        "demasiado",
        "Se ha sentido cansado(a) o con poca energía",
        "Sin apetito o ha comido en exceso",
        "Se ha sentido mal con usted mismo(a) – o que es un fracaso o que ha quedado "  # noqa: RUF001 - the published dash
        "mal con usted mismo(a) o con su familia",
        "Ha tenido dificultad para concentrarse en ciertas actividades, tales como "
        "leer el periódico o ver la televisión",
        "¿Se ha movido o hablado tan lento que otras personas podrían haberlo notado? "
        "o lo contrario – muy inquieto(a) o agitado(a) que ha estado moviéndose mucho "  # noqa: RUF001 - the published dash
        "más de lo normal",
        "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera",
    ),
    ("Ningún día", "Varios días", "Más de la mitad de los días", "Casi todos los días"),
)

# Pfizer's "Spanish for USA" GAD-7 (phqscreeners.com), word for word.
GAD7_ES = Wording(
    "Escala del trastorno de ansiedad generalizada (GAD-7)",
    "Durante las últimas 2 semanas, ¿con qué frecuencia le han molestado los "
    "siguientes problemas?",
    (
        "Se ha sentido nervioso(a), ansioso(a) o con los nervios de punta",
        "No ha sido capaz de parar o controlar su preocupación",
        "Se ha preocupado demasiado por motivos diferentes",
        "Ha tenido dificultad para relajarse",
        "Se ha sentido tan inquieto(a) que no ha podido quedarse quieto(a)",
        "Se ha molestado o irritado fácilmente",
        "Ha tenido miedo de que algo terrible fuera a pasar",
    ),
    ("Nunca", "Varios días", "Más de la mitad de los días", "Casi todos los días"),
)

PHQ9 = Questionnaire(
    Instrument.PHQ9,
    "Patient Health Questionnaire (PHQ-9)",
    "PHQ-9",
    "Over the last 2 weeks, how often have you been bothered by any of the following "
    "problems?",
    "44249-1",
    "44261-6",
    (
        Item("Little interest or pleasure in doing things", "44250-9"),
        Item("Feeling down, depressed, or hopeless", "44255-8"),
        Item("Trouble falling or staying asleep, or sleeping too much", "44259-0"),
        Item("Feeling tired or having little energy", "44254-1"),
        Item("Poor appetite or overeating", "44251-7"),
        Item(
            "Feeling bad about yourself — or that you are a failure or have let "
            "yourself or your family down",
            "44258-2",
        ),
        Item(
            "Trouble concentrating on things, such as reading the newspaper or "
            "watching television",
            "44252-5",
        ),
        Item(
            "Moving or speaking so slowly that other people could have noticed? Or the "
            "opposite — being so fidgety or restless that you have been moving "
            "around a "
            "lot more than usual",
            "44253-3",
        ),
        Item(
            "Thoughts that you would be better off dead or of hurting yourself in some "
            "way",
            "44260-8",
        ),
    ),
    FREQUENCY,
    (
        Band(0, 4, "Minimal"),
        Band(5, 9, "Mild"),
        Band(10, 14, "Moderate"),
        Band(15, 19, "Moderately severe"),
        Band(20, 27, "Severe"),
    ),
    (("es", PHQ9_ES),),
)

GAD7 = Questionnaire(
    Instrument.GAD7,
    "Generalized Anxiety Disorder scale (GAD-7)",
    "GAD-7",
    "Over the last 2 weeks, how often have you been bothered by the following "
    "problems?",
    "69737-5",
    "70274-6",
    (
        Item("Feeling nervous, anxious, or on edge", "69725-0"),
        Item("Not being able to stop or control worrying", "68509-9"),
        Item("Worrying too much about different things", "69733-4"),
        Item("Trouble relaxing", "69734-2"),
        Item("Being so restless that it is hard to sit still", "69735-9"),
        Item("Becoming easily annoyed or irritable", "69689-8"),
        Item("Feeling afraid, as if something awful might happen", "69736-7"),
    ),
    FREQUENCY,
    (
        Band(0, 4, "Minimal"),
        Band(5, 9, "Mild"),
        Band(10, 14, "Moderate"),
        Band(15, 21, "Severe"),
    ),
    (("es", GAD7_ES),),
)

CSSRS = Questionnaire(
    Instrument.CSSRS,
    "Columbia Suicide Severity Rating Scale, screener (recent)",
    "C-SSRS screener",
    "In the past month:",
    "93373-9",
    None,
    (
        Item(
            "Have you wished you were dead or wished you could go to sleep and not "
            "wake "
            "up?",
            "93246-7",
        ),
        Item("Have you actually had any thoughts about killing yourself?", "93247-5"),
        Item("Have you thought about how you might do this?", "93248-3"),
        Item(
            "Have you had any intention of acting on these thoughts of killing "
            "yourself, "
            "as opposed to you have the thoughts but you definitely would not act on "
            "them?",
            "93249-1",
        ),
        Item(
            "Have you started to work out or worked out the details of how to kill "
            "yourself? Did you intend to carry out this plan?",
            "93250-9",
        ),
        Item(
            "Have you done anything, started to do anything, or prepared to do "
            "anything "
            "to end your life? Examples: Collected pills, obtained a gun, gave away "
            "valuables, wrote a will or suicide note, took out pills but didn't "
            "swallow "
            "any, held a gun but changed your mind or it was grabbed from your hand, "
            "went to the roof but didn't jump; or actually took pills, tried to shoot "
            "yourself, cut yourself, tried to hang yourself, etc.",
            "93269-9",
        ),
    ),
    YES_NO,
)
CSSRS_RISK_LOINC = "93374-7"
CSSRS_RECENT_QUESTION = "If YES, was it within the past 3 months?"

QUESTIONNAIRES = {q.instrument: q for q in (PHQ9, GAD7, CSSRS)}


def worded_for(instrument: Instrument, language: str | None) -> Questionnaire:
    """The questionnaire as a page in `language` shows it: its published version in
    that language, or English (the C-SSRS always)."""
    return QUESTIONNAIRES[instrument].worded_in(language or "en")


# The severity bands in the patient's words (the stored label stays English).
SEVERITY_WORDS = {
    "Minimal": _l("Minimal"),
    "Mild": _l("Mild"),
    "Moderate": _l("Moderate"),
    "Moderately severe": _l("Moderately severe"),
    "Severe": _l("Severe"),
}


def severity_words(label: str) -> str:
    """A stored severity label as the page's language says it."""
    return str(SEVERITY_WORDS.get(label, label))


class ScoreError(ValueError):
    """Answers that cannot be scored; the message says which item (`number`, None
    when the count of answers is wrong), in English for logs: `words()` for a page."""

    def __init__(self, message: str, number: int | None = None):
        super().__init__(message)
        self.number = number

    def words(self) -> str:
        """The message in the page's language."""
        if self.number is None:
            return str(_l("Every question needs an answer."))
        return str(_l("Question %(number)s needs an answer.", number=self.number))


def score(questionnaire: Questionnaire, answers: list[int | None]) -> int:
    """Sum the answers after checking every item has an allowed value."""
    allowed = {a.value for a in questionnaire.answers}
    if len(answers) != len(questionnaire.items):
        raise ScoreError("Every question needs an answer.")
    for number, value in enumerate(answers, start=1):
        if value not in allowed:
            raise ScoreError(f"Question {number} needs an answer.", number)
    return sum(answers)


def cssrs_risk(answers: list[int | None], recent_behavior: bool) -> str:
    """The screener's triage: 4, 5 or behavior in the past 3 months is high risk; 3 or
    older behavior is moderate; 1 or 2 alone is low."""
    wish, thoughts, method, intent, plan, behavior = (a or 0 for a in answers)
    if intent or plan or (behavior and recent_behavior):
        return "high"
    if method or behavior:
        return "moderate"
    if wish or thoughts:
        return "low"
    return "none"


def cssrs_normalize(answers: list[int | None]) -> list[int | None]:
    """Questions 3 to 5 are asked only after a yes to question 2; else, unanswered, they
    are no. A yes given to them anyway is kept: a risk answer is never thrown away."""
    answers = list(answers)
    if answers[1] == 0:
        answers[2:5] = [0 if a is None else a for a in answers[2:5]]
    return answers


# Neutral addresses: a shared phone's history should not name the questionnaire.
SCREENER_SLUGS = {"a": Instrument.PHQ9, "b": Instrument.GAD7, "c": Instrument.CSSRS}
SLUG_OF = {instrument: slug for slug, instrument in SCREENER_SLUGS.items()}


def is_risk_positive(instrument: Instrument, answers: list[int]) -> bool:
    """PHQ-9 item 9 above 0, or any yes on the C-SSRS screener."""
    if instrument is Instrument.PHQ9:
        return answers[8] > 0
    if instrument is Instrument.CSSRS:
        return any(answers)
    return False
