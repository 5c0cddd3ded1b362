"""SMART Backend Services: a client authenticates with a JWT signed by its private key
(ES384 or RS384) against the JWKS registered with it. Expired, replayed, signed with
an unregistered key or aimed at another audience: 401, no token, nothing read."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from portal import cli, db
from portal.audit import AuditEvent
from portal.blueprints.record.assertions import check_jwks
from portal.blueprints.record.clients import ClientError, register_client
from portal.blueprints.record.models import FhirClient, FhirToken

TOKEN_URL = "http://localhost/fhir/token"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _jwk(private_key, kid: str) -> dict:
    algorithm = (
        jwt.algorithms.ECAlgorithm
        if isinstance(private_key, ec.EllipticCurvePrivateKey)
        else jwt.algorithms.RSAAlgorithm
    )
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid}


@pytest.fixture
def keys():
    return {
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture
def ehr(world, open_program, keys):
    jwks = check_jwks(
        {"keys": [_jwk(keys["ES384"], "ec-1"), _jwk(keys["RS384"], "rsa-1")]}
    )
    client, _secret = register_client(
        "County Clinic EHR", world.program, ["system/*.read"], jwks
    )
    return client


def assertion(client, key, alg="ES384", kid="ec-1", **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
        **changes,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def ask(flask_client, signed: str, scope: str | None = None):
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION,
        "client_assertion": signed,
    }
    if scope:
        data["scope"] = scope
    return flask_client.post("/fhir/token", data=data)


def tokens_of(client) -> int:
    return db.session.scalar(
        select(func.count()).where(FhirToken.client_id == client.id)
    )


@pytest.mark.parametrize("alg, kid", [("ES384", "ec-1"), ("RS384", "rsa-1")])
def test_a_signed_assertion_gets_a_token_that_reads(client, world, ehr, keys, alg, kid):
    signed = assertion(ehr, keys[alg], alg, kid)
    answer = ask(client, signed, "system/Patient.read")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["scope"] == "system/Patient.read"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    read = client.get(f"/fhir/Patient/{world.patient.id}", headers=headers)
    assert read.status_code == 200


def _refused(client, ehr, signed: str, why: str) -> None:
    answer = ask(client, signed)
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert answer.get_json()["error"] == "invalid_client"
    assert why in answer.get_json()["error_description"]
    assert tokens_of(ehr) == 0
    refusal = db.session.scalar(
        select(AuditEvent.detail)
        .where(AuditEvent.data_kind == "fhir_token", AuditEvent.outcome == "denied")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    assert why in refusal


def test_an_expired_assertion_is_refused(client, ehr, keys):
    signed = assertion(ehr, keys["ES384"], exp=int(time.time()) - 120)
    _refused(client, ehr, signed, "expired")


def test_an_assertion_living_too_long_is_refused(client, ehr, keys):
    signed = assertion(ehr, keys["ES384"], exp=int(time.time()) + 3600)
    _refused(client, ehr, signed, "five minutes")


def test_a_replayed_jti_is_refused(client, ehr, keys):
    signed = assertion(ehr, keys["ES384"])
    assert ask(client, signed).status_code == 200
    again = assertion(
        ehr,
        keys["ES384"],
        jti=jwt.decode(signed, options={"verify_signature": False})["jti"],
    )
    answer = ask(client, again)
    assert answer.status_code == 401
    assert "jti already used" in answer.get_json()["error_description"]
    assert tokens_of(ehr) == 1  # only the first


def test_a_key_not_registered_is_refused(client, ehr, keys):
    stranger = ec.generate_private_key(ec.SECP384R1())
    _refused(client, ehr, assertion(ehr, stranger), "signature")
    _refused(client, ehr, assertion(ehr, stranger, kid="ec-2"), "not registered")


def test_another_audience_is_refused(client, ehr, keys):
    signed = assertion(ehr, keys["ES384"], aud="https://other.example/token")
    _refused(client, ehr, signed, "audience")


@pytest.mark.parametrize(
    "change, why",
    [
        ({"sub": "someone-else"}, "sub"),
        ({"iss": "ehr-unknown"}, "no client"),
        ({"jti": ""}, "jti"),
    ],
)
def test_claims_that_do_not_name_the_client_are_refused(client, ehr, keys, change, why):
    _refused(client, ehr, assertion(ehr, keys["ES384"], **change), why)


def test_other_algorithms_and_garbage_are_refused(client, ehr, keys):
    hs = jwt.encode(
        {"iss": ehr.client_id, "sub": ehr.client_id, "aud": TOKEN_URL},
        "x" * 32,
        algorithm="HS256",
        headers={"kid": "ec-1"},
    )
    _refused(client, ehr, hs, "RS384 or ES384")
    _refused(client, ehr, "not.a.jwt", "not a JWT")
    wrong_type = client.post(
        "/fhir/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:other",
            "client_assertion": assertion(ehr, keys["ES384"]),
        },
    )
    assert wrong_type.status_code == 401 and tokens_of(ehr) == 0


def test_a_client_without_keys_cannot_use_assertions(client, world, open_program):
    plain, _secret = register_client("Plain EHR", world.program, ["system/*.read"])
    key = ec.generate_private_key(ec.SECP384R1())
    _refused(client, plain, assertion(plain, key), "no client with registered keys")


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "abc", "kid": "x"}]},
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "kid": "x"}]},
    ],
)
def test_unfit_jwks_are_not_registered(jwks):
    with pytest.raises(ClientError):
        check_jwks(jwks)


def test_a_private_key_is_not_registered(keys):
    private = jwt.algorithms.ECAlgorithm.to_jwk(keys["ES384"], as_dict=True)
    with pytest.raises(ClientError, match="public keys only"):
        check_jwks({"keys": [{**private, "kid": "k"}]})


def test_the_command_registers_a_jwks(app, world, keys, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(keys["ES384"], "ec-9")]}))
    result = CliRunner().invoke(
        cli.main,
        [
            "fhir-client",
            "add",
            "--name",
            "Keyed EHR",
            "--program",
            world.program.id,
            "--jwks",
            str(path),
        ],
        obj=app,
    )
    assert result.exit_code == 0, result.output
    assert "keys:          ec-9" in result.output
    client = db.session.scalar(select(FhirClient).where(FhirClient.name == "Keyed EHR"))
    assert client.jwks["keys"][0]["kid"] == "ec-9"


def test_discovery_names_private_key_jwt(client):
    body = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == [
        "RS384",
        "ES384",
    ]
    assert "client-confidential-asymmetric" in body["capabilities"]
