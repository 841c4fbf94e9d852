"""PS3.15 A.5 audit trail (IHE ATNA): the messages (:mod:`.messages`) and how they are sent
(:mod:`.transport`). Imports nothing of dicomkit beyond this package, so the network, web and
archive layers can all report to it through :class:`Auditor`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from dicomkit.audit.messages import AuditMessage


class Auditor(Protocol):
    """What the services report to. Neither method may block or raise."""

    def record(self, message: AuditMessage) -> None: ...

    def defer(self, build: Callable[[], Iterable[AuditMessage]]) -> None: ...


__all__ = ["AuditMessage", "Auditor"]
