"""The audit trail options of ``dicomkit serve`` and ``dicomkit rm`` (PS3.15 A.5 messages to
syslog and/or a file), and the trail they configure."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
from typing import Any

AUDIT_SETTINGS: dict[str, Any] = {
    "audit_syslog": [], "audit_tls_ca": None, "audit_tls_cert": None, "audit_tls_key": None,
    "audit_file": None, "audit_file_format": "xml", "audit_source_id": None,
    "audit_site_id": None}
"""The TOML keys of the audit trail, with their defaults."""


def add_audit_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("audit trail (PS3.15 A.5, IHE ATNA; docs/archive.md)")
    group.add_argument("--audit-syslog", action="append", default=[], metavar="URL",
                       help="send audit messages to syslog: udp://HOST:PORT, tcp://HOST:PORT "
                            "or tls://HOST:PORT (RFC 5426, 5425; repeatable)")
    group.add_argument("--audit-tls-ca", metavar="FILE",
                       help="CA certificates (PEM) that verify a tls:// audit receiver")
    group.add_argument("--audit-tls-cert", metavar="FILE",
                       help="our client certificate (PEM) for a tls:// audit receiver")
    group.add_argument("--audit-tls-key", metavar="FILE", help="its private key (PEM)")
    group.add_argument("--audit-file", metavar="PATH",
                       help="append audit messages to this file, one per line")
    group.add_argument("--audit-file-format", choices=["xml", "syslog"],
                       help="a line is the XML message (default) or the whole syslog message")
    group.add_argument("--audit-source-id", metavar="ID",
                       help="AuditSourceID of the messages (default: AET@host)")


def merge_audit_options(settings: dict[str, Any], args: argparse.Namespace) -> None:
    """Command-line values over the config file's (syslog addresses add up)."""
    configured = settings.get("audit_syslog") or []
    settings["audit_syslog"] = ([configured] if isinstance(configured, str) else
                                list(configured)) + list(getattr(args, "audit_syslog", []) or [])
    for name in ("audit_tls_ca", "audit_tls_cert", "audit_tls_key", "audit_file",
                 "audit_file_format", "audit_source_id"):
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value


def open_trail(settings: dict[str, Any]) -> Any:
    """The :class:`~dicomkit.audit.transport.AuditTrail` the settings ask for, or None."""
    if not settings.get("audit_syslog") and not settings.get("audit_file"):
        return None
    from dicomkit.audit.transport import AuditTrail, FileSender, Sender, SyslogSender

    senders: list[Sender] = []
    try:
        for url in settings["audit_syslog"]:
            senders.append(SyslogSender(str(url), ca_file=settings.get("audit_tls_ca"),
                                        cert_file=settings.get("audit_tls_cert"),
                                        key_file=settings.get("audit_tls_key")))
        if settings.get("audit_file"):
            senders.append(FileSender(str(settings["audit_file"]),
                                      form=str(settings.get("audit_file_format") or "xml")))
    except (ValueError, OSError) as exc:
        raise SystemExit(f"dicomkit: audit trail: {exc}") from exc
    return AuditTrail(senders)


def audit_source(settings: dict[str, Any]) -> Any:
    from dicomkit.audit.messages import AuditSource

    return AuditSource(str(settings.get("audit_source_id")
                           or f"{settings.get('aet', 'DICOMKIT')}@{socket.gethostname()}"),
                       settings.get("audit_site_id") or None)


def operator() -> Any:
    """The person running a command (A.5.2.1: the login name on this system)."""
    from dicomkit.audit.messages import ActiveParticipant

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return ActiveParticipant(f"{user}@{socket.gethostname()}", True,
                             alternative_user_id=str(os.getpid()), user_name=user,
                             network_access_point=socket.gethostname())
