"""The archive as an Instance Availability Notification SCU (PS3.4 Annex R): when a study has
been stable for a while, each configured peer is told which of its instances are available.

- A study is *stable* when no instance has arrived for ``stable`` seconds: the index sets
  ``studies.updated`` to the time of the study's latest instance (or removal).
- Only studies changed within the last week (``HORIZON``) are looked at: the scan is a short
  range of the ``studies.updated`` index (migration 0005), and turning notifications on for an
  existing archive does not notify its whole past.
- It is *owed a notification* when it has none yet, or when it changed after the last one:
  ``study_notifications.notified`` keeps the ``updated`` value the last notification was made
  for (not the wall-clock time of sending, so an instance that arrives while a notification is
  being built makes the study owed again).
- :class:`AvailabilityNotifier` looks for such studies every few seconds (background work of
  ``dicomkit serve``). For each, one transaction builds the N-CREATE data set
  (:func:`dicomkit.services.ian.notification`, every instance of the study as ONLINE with our
  AE title), adds one owed message per peer to the outbox (kind ``ian``) and records the
  notification. The claim is optimistic: if another ``serve`` node sharing the index claimed
  the study first, the transaction is rolled back and nothing is sent twice.
- The outbox's Delivery loop sends each message with :func:`dicomkit.services.ian.notify`;
  a peer that is down gets it when it comes back (retries with back-off, across restarts).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from dicomkit.archive.outbox import OwedMessage
from dicomkit.archive.schema import (
    instances,
    joined,
    mpps,
    series,
    studies,
    study_notifications,
    utc_now,
    worklist_items,
)
from dicomkit.archive.scp import ArchiveHandler
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.json import from_json, to_json_dict
from dicomkit.services.ian import AvailableInstance, notification, notify

log = logging.getLogger("dicomkit.archive.ian")

KIND = "ian"
"""The outbox kind of Instance Availability Notifications."""

DEFAULT_STABLE = 60.0
HORIZON = dt.timedelta(days=7)
"""Only studies changed within this window are considered: the scan stays a short range of
the ``studies.updated`` index, and turning notifications on for an archive does not notify
its whole past."""
BATCH = 100  # studies claimed per scan; the next scan takes the rest


@dataclass(frozen=True)
class OwedStudy:
    """A stable study that is owed a notification: its UID, the ``updated`` value it is owed
    for, and the one its last notification was made for (None: never notified)."""

    study_uid: str
    updated: Any
    notified: Any


class ClaimLost(Exception):
    """Another node notified the study (or it changed) between the scan and the claim."""


class AvailabilityNotifier:
    """Finds stable studies owed a notification and owes it to each of ``peers`` (AE titles
    whose addresses are the handler's ``peers``), through the handler's outbox."""

    def __init__(self, handler: ArchiveHandler, peers: Sequence[str], *,
                 stable: float = DEFAULT_STABLE, horizon: dt.timedelta = HORIZON) -> None:
        if stable < 0:
            raise ValueError(f"stable time {stable} s is negative")
        self.handler = handler
        self.index = handler.archive.index
        self.peers = list(dict.fromkeys(p.strip() for p in peers if p.strip()))
        self.stable = float(stable)
        self.horizon = horizon
        # Often enough that a notification follows stability closely, rarely enough that the
        # scan (one indexed query) costs nothing noticeable.
        self.interval = min(max(self.stable / 4, 0.25), 5.0)

    # -- the index side ---------------------------------------------------------------------------
    def owed_studies(self, limit: int = BATCH) -> list[OwedStudy]:
        """Studies stable for ``stable`` seconds and changed since their last notification
        (or never notified), least recently changed first; only those changed within
        ``horizon``."""
        moment = utc_now()
        cutoff = moment - dt.timedelta(seconds=self.stable)
        notified = study_notifications.c.notified
        query = (select(studies.c.study_uid, studies.c.updated, notified)
                 .select_from(studies.outerjoin(
                     study_notifications,
                     study_notifications.c.study_uid == studies.c.study_uid))
                 .where(studies.c.updated > moment - self.horizon,
                        studies.c.updated <= cutoff,
                        or_(notified.is_(None), notified < studies.c.updated))
                 .order_by(studies.c.updated).limit(limit))
        with self.index.engine.connect() as connection:
            return [OwedStudy(row.study_uid, row.updated, row.notified)
                    for row in connection.execute(query)]

    def owe(self, study: OwedStudy) -> int:
        """In one transaction: the notification's data set for every instance of the study,
        one outbox message per peer, and the study marked notified for ``study.updated``.
        Returns the number of messages owed (0 when another node claimed the study first or
        the study lost its instances)."""
        try:
            with self.index.engine.begin() as connection:
                self._claim(connection, study)
                found = self._instances(connection, study.study_uid)
                if not found:
                    return 0
                step = self._performed_procedure_step(connection, study.study_uid)
                dataset = notification(study.study_uid, found, self.handler.ae_title,
                                       performed_procedure_step=step)
                model = to_json_dict(dataset)
                for peer in self.peers:
                    payload = {"sop_instance_uid": generate_uid(), "dataset": model,
                               "instances": len(found)}
                    self.handler.outbox.add(KIND, peer, study.study_uid, payload,
                                            connection=connection)
        except (ClaimLost, IntegrityError):
            return 0
        return len(self.peers)

    def _claim(self, connection: Any, study: OwedStudy) -> None:
        """Record the notification for ``study.updated``, only if nobody else did since the
        scan (else :class:`ClaimLost` rolls the transaction back)."""
        if study.notified is None:
            # A concurrent claim inserts the same key: IntegrityError, rolled back.
            connection.execute(insert(study_notifications).values(
                study_uid=study.study_uid, notified=study.updated))
            return
        done = connection.execute(
            update(study_notifications)
            .where(study_notifications.c.study_uid == study.study_uid,
                   study_notifications.c.notified == study.notified)
            .values(notified=study.updated))
        if done.rowcount != 1:
            raise ClaimLost(study.study_uid)

    @staticmethod
    def _instances(connection: Any, study_uid: str) -> list[AvailableInstance]:
        query = (select(series.c.series_uid, instances.c.sop_class, instances.c.sop_uid)
                 .select_from(joined(instances, 2))
                 .where(studies.c.study_uid == study_uid)
                 .order_by(series.c.pk, instances.c.instance_number, instances.c.pk))
        return [AvailableInstance(row.series_uid, row.sop_class, row.sop_uid)
                for row in connection.execute(query)]

    @staticmethod
    def _performed_procedure_step(connection: Any, study_uid: str) -> str | None:
        """The MPPS that produced the study when exactly one is known (PS3.3 C.4.23: zero or
        one item); with none or several, the notification names none."""
        found = {uid for (uid,) in connection.execute(
            select(mpps.c.sop_uid).where(mpps.c.study_uid == study_uid)) if uid}
        found |= {uid for (uid,) in connection.execute(
            select(worklist_items.c.mpps_uid).where(worklist_items.c.study_uid == study_uid,
                                                    worklist_items.c.mpps_uid != "")) if uid}
        return found.pop() if len(found) == 1 else None

    # -- the loop and the sender ------------------------------------------------------------------
    async def scan(self) -> int:
        """One round: owe a notification for each stable study that needs one; returns how
        many messages were owed."""
        owed = 0
        for study in await asyncio.to_thread(self.owed_studies):
            owed += await asyncio.to_thread(self.owe, study)
        if owed:
            self.handler.delivery.kick()
        return owed

    async def run(self, stop: asyncio.Event) -> None:
        """Scan every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.scan()
            except Exception:  # noqa: BLE001 - the loop outlives one bad round (index down)
                log.exception("instance availability scan failed")
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass

    async def send(self, message: OwedMessage) -> None:
        """The outbox sender of kind ``ian``: one N-CREATE to the message's peer; raises when
        it was not delivered (the Delivery loop retries)."""
        await send_notification(self.handler, message)


async def send_notification(handler: ArchiveHandler, message: OwedMessage) -> None:
    """Deliver one owed notification to the peer named by ``message.destination``; a peer
    the access policy does not let "query" is not told (the message stays owed)."""
    if handler.access is not None:
        refused = handler.access.refusal(message.destination, "query")
        if refused is not None:
            raise PermissionError(f"availability notification not sent: {refused} (an IAN "
                                  "peer needs the \"query\" permission)")
    address = handler.peers.get(message.destination.strip())
    if address is None:
        raise LookupError(f"no address for IAN peer {message.destination!r} "
                          f"(serve --peer {message.destination}=HOST:PORT)")
    payload = message.payload
    try:
        dataset = from_json(payload["dataset"])
        sop_instance_uid = str(payload["sop_instance_uid"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"owed notification {message.pk} has a damaged payload: {exc}") from exc
    host, port = address
    await notify(host, port, dataset, sop_instance_uid, calling_aet=handler.ae_title,
                 called_aet=message.destination)


def install(handler: ArchiveHandler, peers: Sequence[str] = (), *,
            stable: float = DEFAULT_STABLE) -> AvailabilityNotifier:
    """Plug the notifier into ``handler``: the ``ian`` sender always (messages owed before a
    restart are delivered even if the peers changed), the scan only when there are peers."""
    notifier = AvailabilityNotifier(handler, peers, stable=stable)
    missing = [peer for peer in notifier.peers if peer not in handler.peers]
    if missing:
        raise ValueError(f"IAN peer {', '.join(missing)} has no address: add --peer "
                         f"{missing[0]}=HOST:PORT (or [peers] in the config file)")
    if handler.access is not None:
        barred = [peer for peer in notifier.peers
                  if not handler.access.allows(peer, "query")]
        if barred:
            raise ValueError(f"IAN peer {', '.join(barred)} may not \"query\" under the "
                             "per-AE permissions: an availability notification tells what "
                             "the archive holds; add \"query\" to [ae."
                             f"{barred[0]}] permissions (or remove it from the IAN peers)")
    handler.delivery.senders[KIND] = notifier.send
    if notifier.peers:
        handler.background.append(notifier.run)
    return notifier
