"""Sending audit messages: syslog (RFC 5424) over UDP (RFC 5426), TCP or TLS (RFC 5425
octet-counting framing), and files (one XML message per line), from a background thread.

IHE ITI TF-2 3.20 (Record Audit Event) fixes the syslog header: facility 10 (security/
authorization), severity 5 (notice) or 4 (warning, for a failure), MSGID ``IHE+RFC-3881``, the
message UTF-8 with its byte order mark (RFC 5424 §6.4).

:class:`AuditTrail` never blocks its caller: messages go into a bounded queue and one thread
writes them out. A full queue drops the message, a receiver that is down drops what could not be
sent; either is logged as a warning (once per outage, then a count), never raised.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from dicomkit.audit.messages import AuditMessage

log = logging.getLogger("dicomkit.audit")

FACILITY = 10  # security/authorization messages (RFC 5424 Table 1), ITI-20
NOTICE, WARNING = 5, 4
MSGID = "IHE+RFC-3881"
BOM = b"\xef\xbb\xbf"
APP_NAME = "dicomkit"


def syslog_bytes(message: AuditMessage, hostname: str, *, app_name: str = APP_NAME,
                 procid: str | None = None) -> bytes:
    """One RFC 5424 SYSLOG-MSG: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM MSG``
    (no structured data)."""
    pri = FACILITY * 8 + (WARNING if message.failed else NOTICE)
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    header = (f"<{pri}>1 {stamp} {_field(hostname, 255)} {_field(app_name, 48)} "
              f"{_field(procid or str(os.getpid()), 128)} {MSGID} - ")
    return header.encode("ascii") + BOM + message.to_xml().encode("utf-8")


def _field(text: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most ``limit`` characters, or
    the NILVALUE ``-`` (RFC 5424 §6)."""
    cleaned = "".join(c for c in text if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


class Sender(Protocol):
    """Where messages go. ``send`` may block (it runs on the trail's thread) and raises
    OSError when the destination cannot take the message."""

    name: str

    def send(self, message: AuditMessage) -> None: ...

    def close(self) -> None: ...


class SyslogSender:
    """``udp://host:port``, ``tcp://host:port`` or ``tls://host:port`` (default port 514 for
    UDP and TCP, 6514 for TLS, RFC 5425 §4.1). TCP and TLS keep one connection, opened again
    after a failure; a message that cannot be written is dropped, not retried."""

    def __init__(self, url: str, *, hostname: str | None = None, ca_file: str | None = None,
                 cert_file: str | None = None, key_file: str | None = None,
                 timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("udp", "tcp", "tls") or not parts.hostname:
            raise ValueError(f"audit syslog address {url!r}: expected udp://, tcp:// or "
                             "tls://HOST:PORT")
        self.name = url
        self.scheme = parts.scheme
        self.address = (parts.hostname, parts.port or (6514 if self.scheme == "tls" else 514))
        self.hostname = hostname or socket.gethostname()
        self.timeout = timeout
        self.context: ssl.SSLContext | None = None
        if self.scheme == "tls":
            self.context = ssl.create_default_context(cafile=ca_file)
            if cert_file:
                self.context.load_cert_chain(cert_file, key_file)
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self.scheme == "udp":
            family = socket.getaddrinfo(*self.address, type=socket.SOCK_DGRAM)[0][0]
            return socket.socket(family, socket.SOCK_DGRAM)
        sock = socket.create_connection(self.address, timeout=self.timeout)
        if self.context is not None:
            try:
                return self.context.wrap_socket(sock, server_hostname=self.address[0])
            except BaseException:
                sock.close()
                raise
        return sock

    def send(self, message: AuditMessage) -> None:
        data = syslog_bytes(message, self.hostname)
        if self.sock is None:
            self.sock = self._connect()
        try:
            if self.scheme == "udp":
                # RFC 5426 §3.1: one message per datagram
                self.sock.sendto(data, self.address)
            else:
                # RFC 5425 §4.3: octet counting, MSG-LEN SP SYSLOG-MSG
                self.sock.sendall(f"{len(data)} ".encode("ascii") + data)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


class FileSender:
    """Appends each message to a file as one line: the XML document (``xml``) or the whole
    syslog line (``syslog``)."""

    def __init__(self, path: str, *, form: str = "xml", hostname: str | None = None) -> None:
        if form not in ("xml", "syslog"):
            raise ValueError(f"audit file format must be xml or syslog, not {form!r}")
        self.name = path
        self.path = path
        self.form = form
        self.hostname = hostname or socket.gethostname()

    def send(self, message: AuditMessage) -> None:
        line = (message.to_xml().encode("utf-8") if self.form == "xml"
                else syslog_bytes(message, self.hostname))
        with open(self.path, "ab") as handle:
            handle.write(line + b"\n")

    def close(self) -> None:
        pass


Job = AuditMessage | Callable[[], Iterable[AuditMessage]]


@dataclass
class _Health:
    down: bool = False
    dropped: int = 0


class AuditTrail:
    """The :class:`~dicomkit.audit.Auditor` that ``dicomkit serve`` uses: a bounded queue and
    one daemon thread that sends every message to every sender.

    :meth:`record` takes a message; :meth:`defer` takes a function returning messages, called
    on the thread (for messages that need a database look-up, which must not hold up the
    network service)."""

    def __init__(self, senders: Sequence[Sender], *, max_queue: int = 10000) -> None:
        self.senders = list(senders)
        self.queue: queue.Queue[Job | None] = queue.Queue(max_queue)
        self.dropped = 0  # messages the full queue could not take
        self.health = {s.name: _Health() for s in self.senders}
        self.thread = threading.Thread(target=self._run, name="dicomkit-audit", daemon=True)
        self.thread.start()

    def record(self, message: AuditMessage) -> None:
        self._put(message)

    def defer(self, build: Callable[[], Iterable[AuditMessage]]) -> None:
        self._put(build)

    def _put(self, job: Job) -> None:
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("audit queue full (%d messages): %d message(s) dropped so far",
                            self.queue.maxsize, self.dropped)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the thread."""
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self.thread.join(timeout)
        for sender in self.senders:
            try:
                sender.close()
            except OSError:
                pass

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            try:
                messages = [job] if isinstance(job, AuditMessage) else list(job())
            except Exception:  # noqa: BLE001 - a failed look-up loses its messages, not the trail
                log.exception("audit: building a message failed; it is dropped")
                continue
            for message in messages:
                for sender in self.senders:
                    self._send(sender, message)

    def _send(self, sender: Sender, message: AuditMessage) -> None:
        health = self.health[sender.name]
        try:
            sender.send(message)
        except (OSError, ValueError) as exc:
            health.dropped += 1
            if not health.down:
                health.down = True
                log.warning("audit: cannot send to %s (%s); messages are dropped until it "
                            "answers", sender.name, exc)
            return
        if health.down:
            health.down = False
            log.warning("audit: %s answers again; %d message(s) were dropped", sender.name,
                        health.dropped)
            health.dropped = 0
