"""DICOMweb authentication and authorisation: static bearer tokens and HTTP Basic users, and
OAuth 2.0 / OpenID Connect access tokens validated as JWTs (RFC 7519, RFC 9068) with scopes.

PS3.18 §8.1.2 leaves security to the transport and to HTTP; this follows the OAuth rules:

- a request without credentials: 401 and ``WWW-Authenticate: Bearer realm="dicomkit"`` (RFC 6750
  §3.1: no error code when none were sent);
- a token that is not valid (bad signature, expired, not yet valid, wrong issuer or audience,
  an algorithm not allowed, no such key): 401 with ``error="invalid_token"``;
- a valid token without the scope the request needs: 403 with ``error="insufficient_scope"``
  and the scope named (RFC 6750 §3.1).

A JWT is accepted only when signed with an asymmetric algorithm (RS*, PS*, ES*) by a key of the
JWKS (a file, re-read when it changes, or a URL fetched and cached by PyJWT's ``PyJWKClient``;
without one, the issuer's OpenID Connect discovery document names it). ``alg: none`` and HMAC
(an HS* token "signed" with a public key) are refused before any key is looked at (RFC 8725
§3.1, §3.2). Issuer, audience and expiry are required and checked, with a leeway for clocks.

Scopes (the ``scope`` claim, space separated, or ``scp``, a list) map to what a request does:
GET, HEAD and OPTIONS need the read scope, POST and PUT the write scope, DELETE the delete scope
(names configurable). A static token or Basic user may do everything. CORS preflights pass
without credentials (browsers send none).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import threading
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dicomkit.web.errors import warning_header

log = logging.getLogger("dicomkit.web.auth")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""Signature algorithms accepted (RFC 7518 §3.1), asymmetric only."""
DEFAULT_SCOPES = {"read": "dicomweb.read", "write": "dicomweb.write",
                  "delete": "dicomweb.delete"}
ACTION_OF_METHOD = {"GET": "read", "HEAD": "read", "OPTIONS": "read", "POST": "write",
                    "PUT": "write", "DELETE": "delete"}


class InvalidToken(Exception):
    """Why a bearer token is refused (the ``error_description`` of RFC 6750)."""


@dataclass(frozen=True)
class JWTSettings:
    """How access tokens are validated. ``jwks``: a file path or an http(s) URL of a JWK Set
    (RFC 7517 §5); None: the ``jwks_uri`` of ``{issuer}/.well-known/openid-configuration``."""

    issuer: str
    audience: str
    jwks: str | None = None
    leeway: float = 60.0  # seconds of clock skew allowed on exp, nbf, iat
    refresh: float = 300.0  # seconds a JWK Set fetched from a URL is kept
    scopes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SCOPES))


class KeySet:
    """The signing keys of a JWKS file or URL, refreshed: a file when its modification time or
    size changes, a URL after ``refresh`` seconds, or at once for a key ID it does not hold
    (PyJWKClient, at most once per 30 s)."""

    def __init__(self, settings: JWTSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.client: jwt.PyJWKClient | None = None
        self.file_keys: jwt.PyJWKSet | None = None
        self.file_stamp: tuple[int, int] | None = None

    def _source(self) -> str:
        if self.settings.jwks:
            return self.settings.jwks
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - http(s) only
                document = json.load(answer)
        except (OSError, ValueError) as exc:
            raise InvalidToken(f"cannot read the OpenID configuration {url}: {exc}") from exc
        uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(uri, str):
            raise InvalidToken(f"the OpenID configuration {url} names no jwks_uri")
        return uri

    def key_for(self, token: str, kid: str | None) -> jwt.PyJWK:
        with self.lock:
            if self.client is None and self.file_keys is None and self.file_stamp is None:
                source = self._source()
                if source.startswith(("http://", "https://")):
                    self.client = jwt.PyJWKClient(source, lifespan=self.settings.refresh,
                                                  timeout=10)
                else:
                    self.file_stamp = (0, 0)
            try:
                if self.client is not None:
                    if kid is not None:
                        return self.client.get_signing_key_from_jwt(token)
                    keys = self.client.get_jwk_set()
                else:
                    keys = self._file_keys()
            except (jwt.PyJWKClientError, jwt.PyJWKSetError, OSError, ValueError) as exc:
                raise InvalidToken(f"no signing key: {exc}") from exc
        signing = [k for k in keys if k.public_key_use in (None, "sig")]
        if kid is not None:
            signing = [k for k in signing if k.key_id == kid]
        if len(signing) != 1:
            raise InvalidToken(f"no signing key with kid {kid!r}" if kid is not None else
                               "the token names no kid and the JWKS has several keys")
        return signing[0]

    def _file_keys(self) -> jwt.PyJWKSet:
        path = str(self.settings.jwks)
        info = os.stat(path)
        stamp = (info.st_mtime_ns, info.st_size)
        if self.file_keys is None or stamp != self.file_stamp:
            with open(path, encoding="utf-8") as handle:
                self.file_keys = jwt.PyJWKSet.from_dict(json.load(handle))
            self.file_stamp = stamp
        return self.file_keys


class TokenValidator:
    """Checks an access token and returns its claims (:class:`InvalidToken` otherwise)."""

    def __init__(self, settings: JWTSettings) -> None:
        self.settings = settings
        self.keys = KeySet(settings)

    def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a JWT: {exc}") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} not allowed (only {', '.join(ALGORITHMS)})")
        kid = header.get("kid")
        key = self.keys.key_for(token, kid if isinstance(kid, str) else None)
        try:
            return dict(jwt.decode(
                token, key.key, algorithms=[alg], audience=self.settings.audience,
                issuer=self.settings.issuer, leeway=self.settings.leeway,
                options={"require": ["exp", "iss", "aud"]}))
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("the token is not for this audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token is from another issuer") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise InvalidToken(f"{exc}") from exc

    def scopes(self, claims: dict[str, Any]) -> set[str]:
        granted: set[str] = set()
        for name in ("scope", "scp"):
            value = claims.get(name)
            if isinstance(value, str):
                granted |= set(value.split())
            elif isinstance(value, list):
                granted |= {v for v in value if isinstance(v, str)}
        return granted


def _quoted(text: str) -> str:
    """An RFC 6750 auth-param value: no double quotes or backslashes, printable ASCII."""
    cleaned = " ".join(text.replace('"', "'").replace("\\", "/").split())
    return cleaned.encode("ascii", "replace").decode("ascii")


class Authentication:
    """ASGI middleware: lets a request through when its credentials allow what it does, else
    answers 401 or 403 (see the module docstring). Off when nothing is configured."""

    def __init__(self, app: ASGIApp, tokens: list[str], users: dict[str, str],
                 jwt_settings: JWTSettings | None = None,
                 public: tuple[str, ...] = ()) -> None:
        self.app = app
        self.public = public  # GET paths served to anyone: the UI's static pages (no data)
        self.tokens = [t.encode() for t in tokens]
        self.users = {name: password.encode() for name, password in users.items()}
        self.validator = TokenValidator(jwt_settings) if jwt_settings is not None else None

    def is_public(self, path: str) -> bool:
        """A public path: exactly one of ``public``, or under one of its entries that end in
        ``/*`` (``/ui/*``: everything below ``/ui/``)."""
        return any(path == p or (p.endswith("/*") and path.startswith(p[:-1]))
                   for p in self.public)

    def static(self, scheme: str, credentials: str) -> bool:
        """A configured bearer token or Basic user (compared in constant time)."""
        if scheme == "bearer" and self.tokens:
            given = credentials.encode()
            return any(hmac.compare_digest(given, token) for token in self.tokens)
        if scheme == "basic" and self.users:
            try:
                user, _, password = base64.b64decode(credentials).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            expected = self.users.get(user)
            return expected is not None and hmac.compare_digest(password.encode(), expected)
        return False

    def challenges(self, **params: str) -> str:
        bearer = 'Bearer realm="dicomkit"' + "".join(
            f', {name}="{_quoted(value)}"' for name, value in params.items())
        found = [bearer] if self.tokens or self.validator is not None else []
        if self.users:
            found.append('Basic realm="dicomkit", charset="UTF-8"')
        return ", ".join(found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (not self.tokens and not self.users
                                       and self.validator is None):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self.app(scope, receive, send)  # a CORS preflight
            return
        if scope["method"] in ("GET", "HEAD") and self.is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if self.static(scheme, credentials):
            await self.app(scope, receive, send)
            return
        if scheme == "bearer" and self.validator is not None and credentials:
            response = await self._check_jwt(self.validator, credentials, scope["method"])
            if response is None:
                await self.app(scope, receive, send)
                return
        elif scheme == "bearer" and credentials:
            response = self._refuse(401, "the bearer token is not valid",
                                    error="invalid_token")
        else:
            response = self._refuse(401, "authentication required")
        await response(scope, receive, send)

    async def _check_jwt(self, validator: TokenValidator, token: str,
                         method: str) -> JSONResponse | None:
        try:
            claims = await asyncio.to_thread(validator.claims, token)
        except InvalidToken as exc:
            log.info("DICOMweb bearer token refused: %s", exc)
            return self._refuse(401, f"invalid token: {exc}", error="invalid_token",
                                error_description=str(exc))
        action = ACTION_OF_METHOD.get(method.upper(), "write")
        needed = validator.settings.scopes.get(action, action)
        if needed not in validator.scopes(claims):
            log.info("DICOMweb token of %r lacks scope %s for %s", claims.get("sub"), needed,
                     method)
            return self._refuse(403, f"the token lacks the scope {needed}",
                                error="insufficient_scope", scope=needed)
        return None

    def _refuse(self, status: int, reason: str, **params: str) -> JSONResponse:
        return JSONResponse({"status": status, "reason": reason}, status_code=status, headers={
            "WWW-Authenticate": self.challenges(**params), "Warning": warning_header(reason)})
