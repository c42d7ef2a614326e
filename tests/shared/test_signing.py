"""Event signatures and service credentials, without a broker: what a consumer accepts, what it
refuses and with which reason, and that the documented scheme is enough to verify an event."""

import base64
import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.errors import Unauthorized
from shared.events import PRODUCERS, SIGNING_SERVICES, PoisonEvent, ReportVerifiedV1, decode, encode
from shared.signing import (
    EventTrust,
    ServiceKey,
    ensure_development_service_keys,
    is_service_credential,
    trust_document,
)
from tests.credit_blacklist.helpers import verdict
from tests.factories import submitted, wire
from tests.keys import SERVICE_KEYS, STRANGER, TRUST


def genuine_verdict(report_id: str = "r-1") -> tuple[str, list[tuple[str, bytes]], bytes, bytes]:
    event_id, record = encode(verdict(report_id), key=report_id, source="/zhengming/verification",
                              signer=SERVICE_KEYS["verification"])
    headers, key, value = wire(record)
    return event_id, headers, key, value


def refused(headers, key, value) -> str:
    with pytest.raises(PoisonEvent) as caught:
        decode(headers, key, value, trust=TRUST)
    return caught.value.reason


def test_an_event_signed_by_its_producer_is_accepted():
    event_id, headers, key, value = genuine_verdict()
    event = decode(headers, key, value, trust=TRUST)
    assert event.id == event_id and isinstance(event.data, ReportVerifiedV1)
    names = dict(headers)
    assert names["ce_signaturekeyid"] == SERVICE_KEYS["verification"].key_id.encode()
    assert len(base64.b64decode(names["ce_signature"])) == 64


def test_the_forged_malicious_verdict_of_the_security_review_is_refused():
    """Hand-written report.verified.v1, verdict malicious, approver null, no signature."""
    forged = verdict("r-fresh").model_copy(update={"approver": None})
    _, record = encode(forged, key="r-fresh", source="/zhengming/verification")
    assert refused(*wire(record)) == "signature_invalid"


def test_a_genuine_event_replayed_with_another_reports_id_in_its_data_is_refused():
    _, headers, _, value = genuine_verdict("r-1")
    tampered = value.replace(b'"r-1"', b'"r-2"')
    assert tampered != value
    assert refused(headers, b"r-2", tampered) == "signature_invalid"


def test_an_event_of_verifications_type_sent_with_intakes_key_is_refused():
    data = verdict("r-1")
    # As intake, which may sign only its own types:
    _, record = encode(data, key="r-1", source="/zhengming/intake", signer=SERVICE_KEYS["intake"])
    assert refused(*wire(record)) == "type_not_allowed"
    # Claiming to be verification, signed with intake's key:
    _, genuine = encode(data, key="r-1", source="/zhengming/verification", signer=SERVICE_KEYS["verification"])
    headers = {k: v for k, v in genuine.headers.items() if k not in ("ce_signature", "ce_signaturekeyid")}
    intake = SERVICE_KEYS["intake"]
    resigned = {**intake.sign_event(headers, genuine.value), "ce_source": "/zhengming/verification"}
    assert refused([(k, v.encode()) for k, v in resigned.items()], b"r-1", genuine.value) == "signature_invalid"


def test_a_key_nobody_trusts_and_a_source_nobody_knows_are_refused():
    data = verdict("r-1")
    _, record = encode(data, key="r-1", source="/zhengming/verification", signer=STRANGER)
    assert refused(*wire(record)) == "signature_invalid"
    _, record = encode(data, key="r-1", source="/tests")
    assert refused(*wire(record)) == "untrusted_source"


@pytest.mark.parametrize("header", ["ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "content-type"])
def test_every_signed_attribute_is_covered(header):
    _, headers, key, value = genuine_verdict()
    changed = {"ce_id": "another-id", "ce_source": "/zhengming/verification2", "ce_type": "report.submitted.v1",
               "ce_subject": "r-9", "ce_time": "2026-01-01T00:00:00Z", "content-type": "text/plain"}[header]
    tampered = [(k, changed.encode() if k == header else v) for k, v in headers]
    assert refused(tampered, key, value) in ("signature_invalid", "untrusted_source", "type_not_allowed")


def test_a_signature_that_is_not_base64_or_cut_short_is_refused():
    _, headers, key, value = genuine_verdict()
    for bad in (b"!!not base64!!", base64.b64encode(b"x" * 10)):
        assert refused([(k, bad if k == "ce_signature" else v) for k, v in headers], key, value) == "signature_invalid"


def test_two_keys_of_one_service_are_trusted_while_it_rotates():
    old, new = SERVICE_KEYS["verification"], ServiceKey("verification", Ed25519PrivateKey.generate())
    document = json.loads(trust_document({"verification": [old.public_pem(), new.public_pem()]}))
    trust = EventTrust.from_document(document, PRODUCERS)
    for signer in (old, new):
        _, record = encode(verdict("r-1"), key="r-1", source=signer.source, signer=signer)
        assert decode(*wire(record), trust=trust).data.report_id == "r-1"


def test_a_signer_signs_only_its_own_source():
    with pytest.raises(ValueError, match="signs events of /zhengming/intake only"):
        encode(submitted(), key="r-1", source="/zhengming/verification", signer=SERVICE_KEYS["intake"])


def test_the_documented_scheme_is_enough_to_verify_an_event():
    """An external consumer, reading only the catalog's description, verifies a genuine event."""
    _, headers, _, value = genuine_verdict()
    h = {k: v.decode() for k, v in headers}
    lines = ["zhengming-event-signature/1"] + [
        f"{name}={h[header]}" for name, header in (("id", "ce_id"), ("source", "ce_source"), ("type", "ce_type"),
                                                   ("subject", "ce_subject"), ("time", "ce_time"),
                                                   ("datacontenttype", "content-type"))]
    signed = "\n".join(lines).encode() + b"\n\n" + value
    public = serialization.load_pem_public_key(SERVICE_KEYS["verification"].public_pem().encode())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert h["ce_signaturekeyid"] == f"verification-{hashlib.sha256(raw).hexdigest()[:16]}"
    public.verify(base64.b64decode(h["ce_signature"]), signed)  # raises if the description were wrong


def test_development_keys_are_made_once_for_every_producer(tmp_path):
    ensure_development_service_keys(tmp_path, SIGNING_SERVICES, allowed=True)
    first = (tmp_path / "event-trust.json").read_text()
    ensure_development_service_keys(tmp_path, SIGNING_SERVICES, allowed=True)
    assert (tmp_path / "event-trust.json").read_text() == first
    trust = EventTrust.from_file(tmp_path / "event-trust.json", PRODUCERS)
    assert trust.services == {"intake", "verification", "clarification", "credit_blacklist"}
    key = ServiceKey.from_file("clarification", tmp_path / "services" / "clarification.pem")
    assert trust.key(key.key_id) is not None
    with pytest.raises(RuntimeError, match="no event trust file"):
        ensure_development_service_keys(tmp_path / "prod", SIGNING_SERVICES, allowed=False)


# --- service credentials ----------------------------------------------------------------------------


def test_a_service_credential_names_its_service_to_the_one_it_calls():
    token = SERVICE_KEYS["credit_blacklist"].credential(audience="intake")
    assert is_service_credential(token)
    assert TRUST.verify_credential(token, audience="intake", callers=["credit_blacklist"]) == "credit_blacklist"


@pytest.mark.parametrize("case", ["other audience", "caller not allowed", "stranger key", "expired", "long-lived",
                                  "officer key posing as service", "claims another service"])
def test_a_service_credential_that_does_not_hold_is_refused(case):
    key = SERVICE_KEYS["credit_blacklist"]
    callers = ["credit_blacklist"]
    now = int(time.time())
    claims = {"iss": key.source, "sub": "credit_blacklist", "aud": "/zhengming/intake", "iat": now, "exp": now + 60}
    header = {"kid": key.key_id, "typ": "zm-service+jwt"}
    signer = key._private
    if case == "other audience":
        claims["aud"] = "/zhengming/verification"
    elif case == "caller not allowed":
        callers = ["clarification"]
    elif case == "stranger key":
        header["kid"], signer = STRANGER.key_id, STRANGER._private
    elif case == "expired":
        claims.update(iat=now - 400, exp=now - 100)
    elif case == "long-lived":
        claims["exp"] = now + 3600
    elif case == "officer key posing as service":
        signer = Ed25519PrivateKey.generate()
    elif case == "claims another service":
        claims["sub"] = "verification"
    token = jwt.encode(claims, signer, algorithm="EdDSA", headers=header)
    with pytest.raises(Unauthorized):
        TRUST.verify_credential(token, audience="intake", callers=callers)


def test_an_audit_anchor_is_accepted_only_from_the_service_it_is_about():
    from datetime import UTC, datetime

    from shared.events import AuditAnchoredV1

    about_intake = AuditAnchoredV1(service="intake", seq=3, head_mac="ab" * 32, anchored_at=datetime.now(UTC))
    _, record = encode(about_intake, key="intake", source="/zhengming/intake", signer=SERVICE_KEYS["intake"])
    assert decode(*wire(record), trust=TRUST).data == about_intake
    # Verification signing a head of intake's chain: it would let one service vouch for another's.
    _, record = encode(about_intake, key="intake", source="/zhengming/verification",
                       signer=SERVICE_KEYS["verification"])
    assert refused(*wire(record)) == "untrusted_source"
