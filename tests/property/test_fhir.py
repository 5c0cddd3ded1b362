"""The FHIR API under any search parameter, id and $everything window an EHR can send:
never a server error; every answer FHIR JSON, every refusal an OperationOutcome;
dates outside the years the server reads are refused with 400."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.blueprints.record.fhir.registry import all_types
from portal.blueprints.record.fhir.search import DATE_RE
from portal.dates import FIRST_YEAR, LAST_YEAR
from tests.factories.record import bearer, consent, fill_record, make_client, token_for
from tests.property import strategies as hostile

FHIR_JSON = "application/fhir+json"
EDGES = [datetime.min, datetime.max, datetime(1, 1, 2), datetime(9999, 12, 30)]
SEARCH_PARAMS = [
    "patient",
    "subject",
    "date",
    "_lastUpdated",
    "_id",
    "_count",
    "_offset",
    "_format",
    "code",
    "category",
    "status",
    "questionnaire",
    "_sort",
    "_summary",
    "_cursor",
]
JSON_FORMATS = {"json", "application/json", "application/fhir+json"}
EVERYTHING_PARAMS = ["_since", "_type", "start", "end", "_format"]


def _fhir_date(prefix: str, moment, precision: int, zone: str) -> str:
    text = moment.isoformat()
    cut = [4, 7, 10, 16, 19, 26][precision]
    value = f"{moment.year:04d}{text[text.index('-', 1) :]}"[:cut]
    return f"{prefix}{value}{zone if precision >= 3 else ''}"


def _dates(prefixes: list[str]) -> st.SearchStrategy[str]:
    """FHIR dates at any precision, mostly in the years the server reads."""
    return st.builds(
        _fhir_date,
        hostile.mostly(
            st.sampled_from(prefixes),
            st.sampled_from(["ne", "ap", "zz", "EQ", " ge", "eb", "gt"]),
        ),
        hostile.mostly(
            st.datetimes(datetime(FIRST_YEAR, 1, 1), datetime(LAST_YEAR, 12, 31)),
            st.one_of(st.datetimes(), st.sampled_from(EDGES)),
        ),
        st.integers(0, 5),
        st.sampled_from(["", "Z", "+14:00", "-14:00", "+05:30", "+99:99", "-00:00"]),
    )


search_dates = _dates(["", "eq", "gt", "lt", "ge", "le", "sa", "eb"])
instants = _dates([""])  # $everything's _since, start and end take no prefix


@pytest.fixture
def ehr(app, client, world, monkeypatch):
    """A Part 2 program: patient A shares everything with the EHR, B nothing; the
    token outlives the longest run of examples. `ids` holds the ids of every type
    as the API itself gives them."""
    monkeypatch.setitem(app.config, "FHIR_TOKEN_SECONDS", 3600)
    fill_record(world)
    fhir_client, secret = make_client(world.program)
    consent(world.patient, fhir_client)
    headers = bearer(token_for(client, fhir_client, secret))
    ids = {"Patient": [world.patient.id, world.patient_b.id, world.patient_c.id]}
    for resource_type in all_types():
        found = client.get(f"/fhir/{resource_type}?_count=5", headers=headers)
        for entry in found.get_json().get("entry", []):
            ids.setdefault(resource_type, []).append(entry["resource"]["id"])
    every = sorted({i for found in ids.values() for i in found})
    return {"headers": headers, "ids": ids, "all_ids": every}


def _ids(known: list[str]):
    """Ids the API gave out, or made up: of any shape, or numbers (audit rows are
    numbered) of any size."""
    made_up = hostile.in_url(
        st.one_of(
            hostile.ids,
            st.sampled_from(hostile.NUMBER_SPECIALS),
            st.integers(-(2**65), 2**70).map(str),
            st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, 10**40]).map(str),
        )
    )
    return hostile.mostly(st.sampled_from(known), made_up, 2)


def _value(name: str, ehr: dict):
    known = ehr["all_ids"]
    if name in ("patient", "subject"):
        ids = _ids(ehr["ids"]["Patient"])
        return st.one_of(ids, ids.map(lambda i: f"Patient/{i}"))
    if name in ("date", "_lastUpdated"):
        return hostile.mostly(search_dates, hostile.in_url(hostile.hostile), 5)
    if name in ("_since", "start", "end"):
        return hostile.mostly(instants, hostile.in_url(hostile.hostile), 5)
    if name == "_id":
        return st.one_of(_ids(known), st.lists(_ids(known), max_size=120).map(",".join))
    if name in ("code", "category", "status", "questionnaire"):
        tokens = st.sampled_from(
            ["44261-6", "http://loinc.org|", "|x", "survey", "final", "a,b,,", "|"]
        )
        return hostile.mostly(tokens, hostile.in_url(hostile.hostile))
    if name in ("_sort", "_summary", "_cursor"):
        values = st.sampled_from(["date", "-date", "count", "false", "text", "x.y"])
        return hostile.mostly(values, hostile.in_url(hostile.hostile))
    if name in ("_count", "_offset"):
        return hostile.mostly(st.integers(0, 300).map(str), hostile.for_kind("number"))
    if name == "_type":
        types = hostile.mostly(
            st.sampled_from(all_types()), st.sampled_from(["Medication", "", "x y"])
        )
        listed = st.lists(types, max_size=4).map(",".join)
        return hostile.mostly(listed, hostile.in_url(hostile.hostile))
    formats = st.sampled_from(["json", "xml", "application/fhir+json"])
    return hostile.mostly(formats, hostile.in_url(hostile.hostile))


def _query(names: list[str], ehr: dict):
    """Parameters in any order, repeated or not, now and then an unknown one."""
    name = hostile.mostly(st.sampled_from(names), hostile.odd_text, 15)
    pair = name.flatmap(lambda n: st.tuples(st.just(n), _value(n, ehr)))
    once = st.lists(pair, max_size=4, unique_by=lambda p: p[0])
    return hostile.mostly(once, st.lists(pair, max_size=5))


def _expected_refusal(query, names) -> int | None:
    """406 when the first _format asks for anything but JSON (answered first), else
    400 when a date is outside the years read, else None."""
    formats = [value for name, value in query if name == "_format"]
    if formats and formats[0].strip() not in JSON_FORMATS:
        return 406
    return 400 if _out_of_range(query, names) else None


def _out_of_range(query, names) -> bool:
    for name, value in query:
        if name in names:
            match = DATE_RE.match(value.strip())
            if match and not FIRST_YEAR <= int(match["year"]) <= LAST_YEAR:
                return True
    return False


def _get(client, tally, route, url, query, headers) -> tuple[int, dict]:
    try:
        response = client.get(url, query_string=query, headers=headers)
    except Exception:
        tally.saw(500, route)
        raise
    tally.saw(response.status_code, route)
    assert response.status_code < 500, (url, query)
    assert response.mimetype == FHIR_JSON, (url, query, response.mimetype)
    body = response.get_json(force=True)
    if response.status_code >= 400:
        assert body["resourceType"] == "OperationOutcome", body
    return response.status_code, body


def _headers(ehr) -> st.SearchStrategy[dict]:
    bad = st.builds(lambda v: {"Authorization": f"Bearer {v}"}, hostile.ids)
    return hostile.mostly(st.just(ehr["headers"]), bad, 15)


def test_any_search_of_any_type_answers_fhir_json_and_never_a_server_error(
    client, ehr, each_example, tally
):
    types = [*all_types(), "Medication"]

    @given(
        st.sampled_from(types),
        _query(SEARCH_PARAMS, ehr),
        _headers(ehr),
    )
    def search(resource_type, query, headers):
        with each_example():
            status, _body = _get(
                client, tally, "search", f"/fhir/{resource_type}", query, headers
            )
            expected = _expected_refusal(query, ("date", "_lastUpdated"))
            if (
                headers == ehr["headers"]
                and resource_type != "Medication"  # not a type here: 404
                and expected
            ):
                assert status == expected, query

    search()


def test_any_everything_window_answers_fhir_json_and_never_a_server_error(
    client, ehr, each_example, tally
):
    @given(
        _ids(ehr["ids"]["Patient"]),
        _query(EVERYTHING_PARAMS, ehr),
        _headers(ehr),
    )
    def everything(patient_id, query, headers):
        with each_example():
            url = f"/fhir/Patient/{quote(patient_id, safe='')}/$everything"
            status, _body = _get(client, tally, "everything", url, query, headers)
            routed = patient_id and "/" not in patient_id  # else not $everything
            expected = _expected_refusal(query, ("_since", "start", "end"))
            if routed and headers == ehr["headers"] and expected:
                assert status == expected, query

    everything()


def test_any_read_of_any_type_answers_fhir_json_and_never_a_server_error(
    client, ehr, each_example, tally
):
    def with_id(resource_type):
        own = ehr["ids"].get(resource_type) or ehr["all_ids"]
        return st.tuples(st.just(resource_type), _ids(own))

    @given(
        st.sampled_from([*all_types(), "Medication"]).flatmap(with_id),
        _headers(ehr),
    )
    def read(typed_id, headers):
        resource_type, resource_id = typed_id
        with each_example():
            url = f"/fhir/{resource_type}/{quote(resource_id, safe='')}"
            _get(client, tally, "read", url, [], headers)

    read()
