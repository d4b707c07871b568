"""schemathesis hooks for `make fuzz-api` (loaded through SCHEMATHESIS_HOOKS).

OpenAPI cannot express some rules the API enforces, so for *positive* cases (data the
schema calls valid) these hooks supply values that satisfy them before the request is sent;
negative cases are sent as generated:

- `cursor` is an HMAC-signed value only the API issues: a generated one is dropped unless the
  API issued it earlier in this run (`after_call` records every `next_cursor`).
- A certificate or public key (PEM/DER bodies, JSON `pem`) must parse: a real one is sent
  (made by `run` with openssl: CTGUARD_FUZZ_CERT_PEM, _CERT_DER, _SPKI_PEM); so is a
  certificate request whose signature verifies (JSON `csr`: CTGUARD_FUZZ_CSR_PEM).
- A watch-list domain must be registrable (not a public suffix, IP or single label; the
  Public Suffix List is not a regex): `fuzzN.example.org` stands in, N from the generated value.
- `expires_at` of a key must be in the future (the schema has no notion of "now").
- `not_after` of a certificate must not be before its `not_before`.

Nothing else is changed: every other parameter and body field reaches the API as generated.
"""

import os
import re
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import schemathesis

CERT_PEM = Path(os.environ["CTGUARD_FUZZ_CERT_PEM"]).read_text()
CERT_DER = Path(os.environ["CTGUARD_FUZZ_CERT_DER"]).read_bytes()
SPKI_PEM = Path(os.environ["CTGUARD_FUZZ_SPKI_PEM"]).read_text()
CSR_PEM = Path(os.environ["CTGUARD_FUZZ_CSR_PEM"]).read_text()
KEY_PATHS = ("/keys", "/keys/compromised")
PEM_TYPES = ("application/x-pem-file", "text/plain")

ISSUED_CURSORS: set[str] = set()
CREATED_DOMAINS: list[str] = []


def _positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _parse(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None


def _domain(generated) -> str:
    # Values that name a fuzz domain as the API normalises them (case, surrounding space, a
    # trailing dot), e.g. from stateful links, are kept; other generated ones are replaced.
    if isinstance(generated, str) and re.fullmatch(
        r"fuzz[0-9]+\.example\.org\.?", generated.strip().lower()
    ):
        return generated
    return f"fuzz{zlib.crc32(str(generated).encode()) % 64}.example.org"


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _positive(case):
        return
    path, media_type = case.operation.path, case.media_type or ""
    if case.query and "cursor" in case.query and case.query["cursor"] not in ISSUED_CURSORS:
        del case.query["cursor"]
    if case.query and "domain" in case.query:
        case.query["domain"] = _domain(case.query["domain"])
    if case.path_parameters and "value" in case.path_parameters:
        value = case.path_parameters["value"]
        if case.meta.phase.name == "stateful" and CREATED_DOMAINS and _domain(value) != value:
            # A stateful step after POST /domains is about the entry just created (the
            # resource checks assume so even when the value was generated, not linked).
            case.path_parameters["value"] = CREATED_DOMAINS[-1]
        else:
            case.path_parameters["value"] = _domain(value)
    if path in ("/certs", *KEY_PATHS) and media_type.startswith(PEM_TYPES):
        case.body = CERT_PEM if path == "/certs" else SPKI_PEM
    if path == "/certs" and media_type.startswith("application/pkix-cert"):
        case.body = CERT_DER
    body = case.body
    if not isinstance(body, dict):
        return
    if path in ("/certs", *KEY_PATHS) and isinstance(body.get("pem"), str):
        body["pem"] = CERT_PEM if path == "/certs" else SPKI_PEM
    if path in KEY_PATHS and isinstance(body.get("csr"), str):
        body["csr"] = CSR_PEM
    if path == "/domains" and "value" in body:
        body["value"] = _domain(body["value"])
    expires = _parse(body.get("expires_at"))
    if case.operation.path == "/keys" and expires is not None:
        now = datetime.now(timezone.utc)
        if expires <= now + timedelta(minutes=1):
            body["expires_at"] = (now + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    not_before, not_after = _parse(body.get("not_before")), _parse(body.get("not_after"))
    if not_before is not None and not_after is not None and not_after < not_before:
        body["not_before"], body["not_after"] = body["not_after"], body["not_before"]


@schemathesis.hook
def after_call(context, case, response):
    if response.status_code not in (200, 201):
        return
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    if isinstance(body.get("next_cursor"), str):
        ISSUED_CURSORS.add(body["next_cursor"])
    if case.method == "POST" and case.operation.path == "/domains" and isinstance(body.get("value"), str):
        CREATED_DOMAINS.append(body["value"])
