"""Audit record receivers for the tests: a UDP syslog receiver (RFC 5426), TCP and TLS ones
(RFC 5425 octet counting), a self-signed certificate for TLS, an RFC 5424 header parser, and
the PS3.15 A.5.1 schema check (``audit_message.rng``, validated with lxml)."""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "audit_message.rng"
BOM = b"\xef\xbb\xbf"
HEADER = re.compile(rb"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) ")


@dataclass
class SyslogMessage:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    xml: bytes

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8


def parse_syslog(frame: bytes) -> SyslogMessage:
    """RFC 5424 §6: HEADER SP STRUCTURED-DATA SP MSG, the MSG UTF-8 with its BOM."""
    match = HEADER.match(frame)
    assert match, f"not an RFC 5424 message: {frame[:120]!r}"
    rest = frame[match.end():]
    assert rest.startswith(BOM), "the MSG has no UTF-8 byte order mark (RFC 5424 §6.4)"
    pri, stamp, host, app, procid, msgid, _sd = match.groups()
    return SyslogMessage(int(pri), stamp.decode(), host.decode(), app.decode(), procid.decode(),
                         msgid.decode(), rest[len(BOM):])


_schema: Any = None


def validate(xml: bytes | str) -> Any:
    """The message parsed, after checking it against the A.5.1 schema (an AssertionError
    names what the schema refused)."""
    global _schema
    from lxml import etree

    if _schema is None:
        _schema = etree.RelaxNG(etree.parse(str(SCHEMA)))
    document = etree.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    if not _schema.validate(document):
        raise AssertionError(f"not a PS3.15 A.5.1 audit message: {_schema.error_log}\n"
                             f"{xml!r}")
    return document


def wait_until(condition: Callable[[], Any], what: str, deadline: float = 20.0) -> Any:
    """Poll ``condition`` until it is true (the messages travel on another thread)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"waited {deadline} s for {what}")


class UdpReceiver:
    """One datagram, one message (RFC 5426 §3.1)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.frames: list[bytes] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"udp://127.0.0.1:{self.port}"

    def _run(self) -> None:
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except OSError:
                return
            self.frames.append(data)

    def messages(self) -> list[SyslogMessage]:
        return [parse_syslog(f) for f in list(self.frames)]

    def close(self) -> None:
        self.sock.close()


class StreamReceiver:
    """TCP, or TLS with ``context``: frames are MSG-LEN SP SYSLOG-MSG (RFC 5425 §4.3)."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.context = context
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.frames: list[bytes] = []
        self.connections = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{'tls' if self.context else 'tcp'}://{'localhost' if self.context else '127.0.0.1'}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            stream = conn.makefile("rb")
            while True:
                digits = b""
                while True:
                    c = stream.read(1)
                    if not c:
                        return
                    if c == b" ":
                        break
                    assert c.isdigit(), f"octet count expected, got {digits + c!r}"
                    digits += c
                self.frames.append(stream.read(int(digits)))
        except (OSError, AssertionError) as exc:
            self.errors.append(str(exc))
        finally:
            conn.close()

    def messages(self) -> list[SyslogMessage]:
        return [parse_syslog(f) for f in list(self.frames)]

    def close(self) -> None:
        self.listener.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and 127.0.0.1 and its key (PEM files), made with the
    ``cryptography`` package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "audit-cert.pem", folder / "audit-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_receiver(folder: Path) -> tuple[StreamReceiver, Path]:
    cert, key = self_signed(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return StreamReceiver(context), cert
