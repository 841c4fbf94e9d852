"""Audit transports: RFC 5424 syslog over UDP (RFC 5426), TCP and TLS (RFC 5425 octet
counting), files; the trail's queue never blocks and drops with a warning."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from dicomkit.audit import messages as m
from dicomkit.audit.transport import AuditTrail, FileSender, SyslogSender, syslog_bytes
from tests.support.audit import (
    StreamReceiver,
    UdpReceiver,
    parse_syslog,
    tls_receiver,
    validate,
    wait_until,
)

SOURCE = m.AuditSource("PACS")
PACS = m.application_entity("PACS", "127.0.0.1", requestor=False)


def alert(outcome: int = m.SUCCESS, text: str = "ünïcode") -> m.AuditMessage:
    return m.security_alert(SOURCE, PACS, m.SESSION_START, outcome=outcome, description=text)


def test_syslog_header_is_the_one_iti20_asks_for() -> None:
    ok = parse_syslog(syslog_bytes(alert(), "host.example", procid="42"))
    assert (ok.facility, ok.severity) == (10, 5)  # security/authorization, notice
    assert (ok.hostname, ok.app_name, ok.procid, ok.msgid) == (
        "host.example", "dicomkit", "42", "IHE+RFC-3881")
    assert ok.timestamp.endswith("Z")
    validate(ok.xml)
    failed = parse_syslog(syslog_bytes(alert(m.MINOR_FAILURE), "h"))
    assert failed.severity == 4  # warning


def test_udp_one_message_per_datagram() -> None:
    receiver = UdpReceiver()
    trail = AuditTrail([SyslogSender(receiver.url)])
    try:
        for n in range(3):
            trail.record(alert(text=f"n{n}"))
        wait_until(lambda: len(receiver.frames) == 3, "3 datagrams")
        texts = [validate(s.xml).findtext("EventIdentification/EventOutcomeDescription")
                 for s in receiver.messages()]
        assert sorted(texts) == ["n0", "n1", "n2"]
    finally:
        trail.close()
        receiver.close()


def test_tcp_octet_counting_on_one_connection() -> None:
    receiver = StreamReceiver()
    trail = AuditTrail([SyslogSender(receiver.url)])
    try:
        for n in range(5):
            trail.record(alert(text=f"n{n}"))
        wait_until(lambda: len(receiver.frames) == 5, "5 frames")
        assert receiver.connections == 1
        assert [validate(s.xml).findtext("EventIdentification/EventOutcomeDescription")
                for s in receiver.messages()] == [f"n{n}" for n in range(5)]
        assert not receiver.errors
    finally:
        trail.close()
        receiver.close()


def test_tls_with_the_receivers_ca(tmp_path: Path) -> None:
    receiver, cert = tls_receiver(tmp_path)
    trail = AuditTrail([SyslogSender(receiver.url, ca_file=str(cert))])
    try:
        trail.record(alert(text="over tls"))
        wait_until(lambda: receiver.frames, "a TLS frame")
        assert validate(receiver.messages()[0].xml).findtext(
            "EventIdentification/EventOutcomeDescription") == "over tls"
    finally:
        trail.close()
        receiver.close()


def test_tls_refuses_a_receiver_it_cannot_verify(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    receiver, _cert = tls_receiver(tmp_path)
    trail = AuditTrail([SyslogSender(receiver.url)])  # system CAs only
    try:
        with caplog.at_level(logging.WARNING, "dicomkit.audit"):
            trail.record(alert())
            trail.close()
        assert not receiver.frames
        assert "cannot send to tls://" in caplog.text
    finally:
        receiver.close()


def test_file_one_xml_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    trail = AuditTrail([FileSender(str(path))])
    trail.record(alert(text="a\nb"))
    trail.record(alert(text="c"))
    trail.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2
    assert validate(lines[0]).findtext("EventIdentification/EventOutcomeDescription") == "a\nb"


def test_a_receiver_that_is_down_is_logged_and_skipped(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    path = tmp_path / "audit.log"
    trail = AuditTrail([SyslogSender(f"tcp://127.0.0.1:{dead}"), FileSender(str(path))])
    with caplog.at_level(logging.WARNING, "dicomkit.audit"):
        for _ in range(3):
            trail.record(alert())
        trail.close()
    assert len(path.read_bytes().splitlines()) == 3  # the other sender still got all
    warnings = [r for r in caplog.records if "cannot send" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per message


class Blocked:
    """A sender stuck until released: the trail's queue fills behind it."""

    name = "blocked"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent = 0

    def send(self, message: m.AuditMessage) -> None:
        self.release.wait()
        self.sent += 1

    def close(self) -> None:
        pass


def test_a_full_queue_drops_instead_of_blocking(caplog: pytest.LogCaptureFixture) -> None:
    sender = Blocked()
    trail = AuditTrail([sender], max_queue=2)
    with caplog.at_level(logging.WARNING, "dicomkit.audit"):
        for _ in range(10):
            trail.record(alert())  # returns at once although nothing is being sent
    sender.release.set()
    trail.close()
    assert trail.dropped >= 7
    assert sender.sent == 10 - trail.dropped
    assert "audit queue full" in caplog.text


def test_deferred_messages_are_built_on_the_trail_thread(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    trail = AuditTrail([FileSender(str(path))])
    threads = []

    def build() -> list[m.AuditMessage]:
        threads.append(threading.current_thread().name)
        return [alert(text="one"), alert(text="two")]

    trail.defer(build)
    trail.close()
    assert threads == ["dicomkit-audit"]
    assert len(path.read_bytes().splitlines()) == 2


def test_a_bad_address_is_refused() -> None:
    with pytest.raises(ValueError, match="udp://, tcp:// or tls://"):
        SyslogSender("http://127.0.0.1:514")
