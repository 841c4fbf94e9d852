"""DICOMweb access tokens validated as JWTs (RFC 7519, RFC 9068) by ``dicomkit serve``, on
both index back ends.

Keys are made in the test (an RSA key and a P-256 key) and published as a JWK Set in a file
(``--jwks FILE``) and from a small HTTP server on 127.0.0.1 (an OpenID Connect discovery
document naming a JWKS URL). Each refusal has the status and challenge of RFC 6750 §3.1: 401
``invalid_token`` for a token that is not valid (expired, another issuer or audience, a
signature by another key, ``alg: none``, HS256 "signed" with the public key), 403
``insufficient_scope`` naming the scope missing; a CORS preflight needs no token;
dicomweb-client with a valid token searches and stores.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.databases import Backend
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port
from tests.support.web import multipart_body

ISSUER_PATH = "/realms/pacs"
AUDIENCE = "dicomkit-test"
ORIGIN = "https://viewer.example.org"


@dataclass
class Keys:
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    other: rsa.RSAPrivateKey  # not in the JWKS

    def jwks(self, *extra: tuple[str, Any]) -> dict[str, Any]:
        keys = [dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())),
                     kid="rsa-1", use="sig", alg="RS256"),
                dict(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())),
                     kid="ec-1", use="sig", alg="ES256")]
        for kid, key in extra:
            keys.append(dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())),
                             kid=kid, use="sig", alg="RS256"))
        return {"keys": keys}


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1()),
                rsa.generate_private_key(65537, 2048))


class IdentityProvider:
    """An OpenID Connect issuer's two documents over HTTP on 127.0.0.1, in a thread."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}{ISSUER_PATH}"
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                documents = {
                    f"{ISSUER_PATH}/.well-known/openid-configuration": {
                        "issuer": provider.issuer,
                        "jwks_uri": f"{provider.issuer}/protocol/openid-connect/certs"},
                    f"{ISSUER_PATH}/protocol/openid-connect/certs": provider.jwks}
                document = documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Guarded:
    server: Serve
    http_port: int
    issuer: str
    jwks_file: Path | None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"


def start(module_serve: ServeFactory, folder: Path, index: str | None, issuer: str,
          extra: list[str]) -> Guarded:
    http_port, dimse_port = free_port(), free_port()
    args = ["--data", str(folder / "data"), "--bind", "127.0.0.1", "--aet", "PACS",
            "--dimse-port", str(dimse_port), "--http-port", str(http_port), "--no-fsync",
            "--jwt-issuer", issuer, "--jwt-audience", AUDIENCE, "--cors-origin", ORIGIN,
            *extra]
    if index is not None:
        args += ["--index", index]
    server = module_serve.start(args, dimse_port, folder / "data", index)
    wait_for_port(http_port, server.proc, describe=server.describe)
    return Guarded(server, http_port, issuer, None)


@pytest.fixture(scope="module")
def with_file(backend: Backend, module_serve: ServeFactory, keys: Keys,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """``--jwks FILE``."""
    folder = tmp_path_factory.mktemp("jwt-file")
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()), "utf-8")
    guarded = start(module_serve, folder, backend.new_index(), "https://login.example.org"
                    + ISSUER_PATH, ["--jwks", str(jwks)])
    guarded.jwks_file = jwks
    yield guarded
    assert guarded.server.stop() == 0, guarded.server.log_tail()


@pytest.fixture(scope="module")
def with_discovery(backend: Backend, module_serve: ServeFactory, keys: Keys,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """No ``--jwks``: the keys come from the issuer's OIDC discovery document and JWKS URL."""
    provider = IdentityProvider(keys.jwks())
    guarded = start(module_serve, tmp_path_factory.mktemp("jwt-url"), backend.new_index(),
                    provider.issuer, [])
    yield guarded
    assert guarded.server.stop() == 0, guarded.server.log_tail()
    provider.close()


def token(guarded: Guarded, key: Any, *, alg: str = "RS256", kid: str | None = "rsa-1",
          **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"iss": guarded.issuer, "aud": AUDIENCE, "sub": "alice",
                            "iat": now, "exp": now + 600, "scope": "dicomweb.read"}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


def unsigned(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT built by hand: ``alg: none`` (empty signature) or HS256 with ``secret``."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(),
                                                    hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def get(guarded: Guarded, bearer: str | None, path: str = "/studies") -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return httpx.get(guarded.root + path, headers=headers, timeout=30)


def challenge(response: httpx.Response) -> str:
    return response.headers.get("www-authenticate", "")


def assert_invalid(response: httpx.Response, words: str) -> None:
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in challenge(response)
    assert words in challenge(response), challenge(response)


def test_a_valid_rs256_token_reads(with_file: Guarded, keys: Keys) -> None:
    response = get(with_file, token(with_file, keys.rsa))
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


def test_a_valid_es256_token_reads(with_file: Guarded, keys: Keys) -> None:
    assert get(with_file, token(with_file, keys.ec, alg="ES256", kid="ec-1")).status_code == 200


def test_no_token_is_401_with_a_bare_challenge(with_file: Guarded) -> None:
    response = get(with_file, None)
    assert response.status_code == 401
    assert challenge(response) == 'Bearer realm="dicomkit"'


def test_an_expired_token_is_invalid(with_file: Guarded, keys: Keys) -> None:
    old = int(time.time()) - 3600
    assert_invalid(get(with_file, token(with_file, keys.rsa, iat=old - 600, exp=old)),
                   "expired")


def test_expiry_within_the_leeway_is_accepted(with_file: Guarded, keys: Keys) -> None:
    just = int(time.time()) - 5  # the default leeway is 60 s
    assert get(with_file, token(with_file, keys.rsa, exp=just)).status_code == 200


def test_a_token_without_exp_is_invalid(with_file: Guarded, keys: Keys) -> None:
    assert_invalid(get(with_file, token(with_file, keys.rsa, exp=None)), "exp")


def test_another_issuer_is_invalid(with_file: Guarded, keys: Keys) -> None:
    assert_invalid(get(with_file, token(with_file, keys.rsa, iss="https://evil.example.org")),
                   "issuer")


def test_another_audience_is_invalid(with_file: Guarded, keys: Keys) -> None:
    assert_invalid(get(with_file, token(with_file, keys.rsa, aud="another-service")),
                   "audience")


def test_a_signature_by_another_key_is_invalid(with_file: Guarded, keys: Keys) -> None:
    assert_invalid(get(with_file, token(with_file, keys.other)), "Signature")


def test_an_unknown_key_id_is_invalid(with_file: Guarded, keys: Keys) -> None:
    assert_invalid(get(with_file, token(with_file, keys.rsa, kid="rsa-9")), "rsa-9")


def test_alg_none_is_refused(with_file: Guarded) -> None:
    now = int(time.time())
    claims = {"iss": with_file.issuer, "aud": AUDIENCE, "exp": now + 600,
              "scope": "dicomweb.read"}
    assert_invalid(get(with_file, unsigned({"alg": "none", "kid": "rsa-1"}, claims, None)),
                   "'none' not allowed")


def test_hs256_signed_with_the_public_key_is_refused(with_file: Guarded, keys: Keys) -> None:
    """The key-confusion attack (RFC 8725 §2.1): the RSA public key used as an HMAC secret."""
    now = int(time.time())
    claims = {"iss": with_file.issuer, "aud": AUDIENCE, "exp": now + 600,
              "scope": "dicomweb.read"}
    public = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = unsigned({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims, public)
    assert_invalid(get(with_file, forged), "'HS256' not allowed")


def test_a_token_without_the_read_scope_is_403(with_file: Guarded, keys: Keys) -> None:
    response = get(with_file, token(with_file, keys.rsa, scope="dicomweb.write"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in challenge(response)
    assert 'scope="dicomweb.read"' in challenge(response)


def test_scp_list_claim_is_read_too(with_file: Guarded, keys: Keys) -> None:
    bearer = token(with_file, keys.rsa, scope=None, scp=["openid", "dicomweb.read"])
    assert get(with_file, bearer).status_code == 200


def test_stow_needs_the_write_scope(with_file: Guarded, keys: Keys, tmp_path: Path) -> None:
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    ds = make_ct(8, 1, generate_uid(), generate_uid())
    write(ds, str(tmp_path / "ct.dcm"))
    body, content_type = multipart_body([(tmp_path / "ct.dcm").read_bytes()])

    def post(bearer: str) -> httpx.Response:
        return httpx.post(with_file.root + "/studies", content=body, timeout=30, headers={
            "Content-Type": content_type, "Accept": "application/dicom+json",
            "Authorization": f"Bearer {bearer}"})

    refused = post(token(with_file, keys.rsa))
    assert refused.status_code == 403
    assert 'scope="dicomweb.write"' in challenge(refused)
    stored = post(token(with_file, keys.rsa, scope="dicomweb.read dicomweb.write"))
    assert stored.status_code == 200, stored.text
    found = get(with_file, token(with_file, keys.rsa),
                f"/studies?StudyInstanceUID={ds.StudyInstanceUID}")
    assert [s["0020000D"]["Value"][0] for s in found.json()] == [str(ds.StudyInstanceUID)]


def test_cors_preflight_needs_no_token(with_file: Guarded) -> None:
    preflight = httpx.request("OPTIONS", with_file.root + "/studies", timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


def test_a_rewritten_jwks_file_is_read_again(with_file: Guarded, keys: Keys) -> None:
    rotated = rsa.generate_private_key(65537, 2048)
    bearer = token(with_file, rotated, kid="rsa-2")
    assert_invalid(get(with_file, bearer), "rsa-2")
    assert with_file.jwks_file is not None
    with_file.jwks_file.write_text(json.dumps(keys.jwks(("rsa-2", rotated))), "utf-8")
    assert get(with_file, bearer).status_code == 200


def test_keys_from_oidc_discovery_and_a_jwks_url(with_discovery: Guarded, keys: Keys) -> None:
    assert get(with_discovery, token(with_discovery, keys.rsa)).status_code == 200
    assert get(with_discovery, token(with_discovery, keys.ec, alg="ES256",
                                     kid="ec-1")).status_code == 200
    assert_invalid(get(with_discovery, token(with_discovery, keys.other)), "Signature")
    assert_invalid(get(with_discovery, token(with_discovery, keys.rsa,
                                             aud="another-service")), "audience")


def test_dicomweb_client_with_a_valid_token(with_discovery: Guarded, keys: Keys,
                                            tmp_path: Path) -> None:
    import pydicom
    from dicomweb_client.api import DICOMwebClient

    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    bearer = token(with_discovery, keys.rsa, scope="dicomweb.read dicomweb.write")
    client = DICOMwebClient(with_discovery.root, headers={"Authorization": f"Bearer {bearer}"})
    ds = make_ct(8, 1, generate_uid(), generate_uid())
    write(ds, str(tmp_path / "ct.dcm"))
    client.store_instances([pydicom.dcmread(tmp_path / "ct.dcm")])
    studies = client.search_for_studies(search_filters={"StudyInstanceUID":
                                                        str(ds.StudyInstanceUID)})
    assert [s["0020000D"]["Value"][0] for s in studies] == [str(ds.StudyInstanceUID)]
    reader = DICOMwebClient(with_discovery.root, headers={
        "Authorization": f"Bearer {token(with_discovery, keys.rsa, scope='openid')}"})
    with pytest.raises(Exception, match="403"):
        reader.search_for_studies()
