"""TLS for the listeners of ``dicomkit serve`` (PS3.15 Annex B.1 "The Basic TLS Secure
Transport Connection Profile", B.9 "Non-Downgrading BCP 195 TLS Secure Transport Connection
Profile").

One server context serves both the DIMSE port and the DICOMweb port: the server proves
itself with its certificate and key; with a CA file, every peer must present a certificate
that CA signed (mutual authentication, B.1: "the certificates of the two nodes").
BCP 195 (RFC 9325) forbids SSL and TLS below 1.2, so the minimum version is TLS 1.2.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


class TLSConfigError(ValueError):
    """A certificate, key or CA file that cannot be used, with the file it names."""


@dataclass(frozen=True)
class ServerTLS:
    """What a TLS listener needs: our certificate chain, its key, and optionally the CA
    certificates that client certificates must chain to (then required)."""

    cert: str
    key: str | None = None
    ca: str | None = None

    def context(self) -> ssl.SSLContext:
        """A server-side context: TLS 1.2 or later, client certificates required when
        ``ca`` is set."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"TLS certificate {self.cert!r} / key {self.key!r}: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from exc
        if self.ca:
            try:
                context.load_verify_locations(self.ca)
            except (OSError, ssl.SSLError) as exc:
                raise TLSConfigError(f"TLS CA file {self.ca!r}: "
                                     f"{getattr(exc, 'strerror', None) or exc}") from exc
            context.verify_mode = ssl.CERT_REQUIRED
        return context
