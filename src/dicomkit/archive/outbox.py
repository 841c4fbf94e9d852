"""Messages the archive owes its peers, kept in the index until delivered: Storage Commitment
reports (PS3.4 J.3.3), MPPS forwarding (F.7) and Instance Availability Notifications (R).

A message is added in the same database transaction as the change it reports (or before the
request is acknowledged), so a success status never outlives a lost notification: after a
crash or SIGKILL the owed message is still here and :class:`Delivery` sends it on restart.
Delivery is at least once; each message is retried with a growing delay until its sender
succeeds.

- :class:`Outbox`: add, list, mark delivered or failed (on the index's engine).
- :class:`Delivery`: the loop ``dicomkit serve`` runs: each due message goes to the sender
  registered for its ``kind`` (a coroutine function that raises when delivery failed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.schema import as_utc, outbox, utc_now

log = logging.getLogger("dicomkit.archive.outbox")

RETRY_DELAYS = (2.0, 5.0, 15.0, 30.0, 60.0, 300.0)
"""Seconds before the 1st, 2nd, … retry of a failed delivery; the last one repeats."""


@dataclass(frozen=True)
class OwedMessage:
    pk: int
    kind: str
    destination: str
    reference: str
    payload: dict[str, Any]
    attempts: int
    last_error: str
    created: dt.datetime | None
    delivered: dt.datetime | None


def _message(row: Any) -> OwedMessage:
    return OwedMessage(row.pk, row.kind, row.destination, row.reference,
                       json.loads(row.payload or "{}"), row.attempts, row.last_error,
                       as_utc(row.created), as_utc(row.delivered))


class Outbox:
    """The owed messages in the index (table ``outbox``)."""

    def __init__(self, index: ArchiveIndex) -> None:
        self.index = index

    def add(self, kind: str, destination: str, reference: str, payload: dict[str, Any], *,
            connection: Any = None, delay: float = 0.0) -> int:
        """Owe ``payload`` to ``destination``; with ``connection``, inside the caller's
        transaction. Returns the message's key."""
        values = {"kind": kind, "destination": destination, "reference": reference,
                  "payload": json.dumps(payload, ensure_ascii=False), "attempts": 0,
                  "last_error": "", "created": utc_now(),
                  "next_attempt": utc_now() + dt.timedelta(seconds=delay), "delivered": None}
        statement = insert(outbox).values(**values).returning(outbox.c.pk)
        if connection is not None:
            return int(connection.execute(statement).scalar_one())
        with self.index.engine.begin() as own:
            return int(own.execute(statement).scalar_one())

    def due(self, kinds: Sequence[str], limit: int = 50) -> list[OwedMessage]:
        """Undelivered messages of ``kinds`` whose next attempt is due, oldest first."""
        query = (select(outbox).where(outbox.c.delivered.is_(None), outbox.c.kind.in_(kinds),
                                      outbox.c.next_attempt <= utc_now())
                 .order_by(outbox.c.pk).limit(limit))
        with self.index.engine.connect() as connection:
            return [_message(row) for row in connection.execute(query)]

    def messages(self, kind: str | None = None, reference: str | None = None, *,
                 owed_only: bool = False) -> list[OwedMessage]:
        query = select(outbox).order_by(outbox.c.pk)
        if kind is not None:
            query = query.where(outbox.c.kind == kind)
        if reference is not None:
            query = query.where(outbox.c.reference == reference)
        if owed_only:
            query = query.where(outbox.c.delivered.is_(None))
        with self.index.engine.connect() as connection:
            return [_message(row) for row in connection.execute(query)]

    def mark_delivered(self, pk: int) -> None:
        with self.index.engine.begin() as connection:
            connection.execute(update(outbox).where(outbox.c.pk == pk).values(
                delivered=utc_now(), last_error=""))

    def mark_failed(self, pk: int, error: str, attempts: int) -> float:
        """Record a failed attempt; returns the delay before the next one."""
        delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS) - 1)]
        with self.index.engine.begin() as connection:
            connection.execute(update(outbox).where(outbox.c.pk == pk).values(
                attempts=attempts + 1, last_error=error[:2000],
                next_attempt=utc_now() + dt.timedelta(seconds=delay)))
        return delay

    def retry_now(self, pk: int) -> None:
        with self.index.engine.begin() as connection:
            connection.execute(update(outbox).where(outbox.c.pk == pk).values(
                next_attempt=utc_now()))


Sender = Callable[[OwedMessage], Awaitable[None]]


class Delivery:
    """Sends owed messages: ``senders`` maps a kind to the coroutine function that delivers
    one message (raising on failure). :meth:`kick` wakes the loop at once (after adding a
    message); otherwise it looks every ``interval`` seconds."""

    def __init__(self, outbox_: Outbox, senders: dict[str, Sender] | None = None, *,
                 interval: float = 1.0) -> None:
        self.outbox = outbox_
        self.senders: dict[str, Sender] = dict(senders or {})
        self.interval = interval
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def kick(self) -> None:
        """Wake the loop (from any thread)."""
        if self._wake is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not stop.is_set():
            if self.senders:
                try:
                    await self.deliver_due()
                except Exception:  # noqa: BLE001 - the loop outlives one bad round
                    log.exception("outbox delivery round failed")
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=self.interval,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    async def deliver_due(self) -> int:
        """One round: try every due message once; returns how many were delivered."""
        due = await asyncio.to_thread(self.outbox.due, list(self.senders))
        delivered = 0
        for message in due:
            sender = self.senders[message.kind]
            try:
                await sender(message)
            except Exception as exc:  # noqa: BLE001 - recorded, retried later
                delay = await asyncio.to_thread(self.outbox.mark_failed, message.pk,
                                                f"{type(exc).__name__}: {exc}",
                                                message.attempts)
                log.warning("%s to %s (%s) not delivered, attempt %d: %s; retry in %.0f s",
                            message.kind, message.destination, message.reference,
                            message.attempts + 1, exc, delay)
                continue
            await asyncio.to_thread(self.outbox.mark_delivered, message.pk)
            delivered += 1
            log.info("%s delivered to %s (%s)", message.kind, message.destination,
                     message.reference)
        return delivered
