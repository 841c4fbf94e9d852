"""De-identify on export: peers that receive only de-identified copies (PS3.15 Annex E,
:mod:`dicomkit.deid`).

A peer named in ``deid_peers`` (``dicomkit serve --deid-peer NAME[=OPTION,…]``) never receives a
stored file as it is: when it is the Move Destination of a C-MOVE, or the requestor of a C-GET,
:class:`DeidExport` turns each instance the Query/Retrieve SCP found into the Basic Application
Level Confidentiality Profile's output with that peer's options, and the C-STORE sub-operation
sends that data set instead. An instance that cannot be de-identified is a failed
sub-operation (its original is never sent in its place).

Pseudonyms are keyed with the server's de-identification key (``deid_key_file`` or
``DICOMKIT_DEID_KEY``), so the same patient, study and UID get the same replacement in every
export, every run and in ``dicomkit deid`` with the same key. Every retrieve uses a fresh
:class:`~dicomkit.deid.Keys` (its UID cache does not grow with the server's life).

The audit trail (PS3.15 A.5.3.3, A.5.3.7) names the original patient and studies — what left
the archive — and says in the Instances Transferred message that the copies sent were
de-identified: :meth:`DeidExport.originals` maps the sent UIDs back, :meth:`DeidExport.note`
gives the description.

Memory: the de-identified data sets of one retrieve are made before its first sub-operation
(the sub-operations are planned from their SOP classes and UIDs), so one C-MOVE holds its
instances' data elements in memory; files above the reader's mmap threshold keep their pixel
data on disk until sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from dicomkit.core.dataset import Dataset
from dicomkit.deid import Deidentifier, Keys
from dicomkit.deid.table import check_options
from dicomkit.encoding.reader import read
from dicomkit.net.service import RetrieveFailure, RetrieveItem

log = logging.getLogger("dicomkit.archive.deid_export")
REMEMBERED = 100_000  # sent UID -> original UID pairs kept for the audit trail


@dataclass(frozen=True)
class DeidPeer:
    """One de-identifying peer: its AE title and the Table E.1-1 options of its copies."""

    ae_title: str
    options: tuple[str, ...] = ()


class DeidExport:
    """The de-identifying peers of one server and the key of their pseudonyms."""

    def __init__(self, peers: Iterable[DeidPeer], key: bytes | str,
                 max_inflated: int | None = None) -> None:
        self.peers = {p.ae_title.strip(): DeidPeer(p.ae_title.strip(),
                                                   tuple(sorted(check_options(list(p.options)))))
                      for p in peers}
        self.secret = Keys(key).secret  # an empty key is refused here
        self.max_inflated = max_inflated
        self._originals: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def peer(self, ae_title: str) -> DeidPeer | None:
        return self.peers.get(ae_title.strip())

    async def convert(self, peer: DeidPeer, items: AsyncIterator[RetrieveItem]
                      ) -> AsyncIterator[Dataset | RetrieveFailure]:
        """Each found instance de-identified for ``peer`` (read and de-identified in a worker
        thread), or a failure naming why it cannot be."""
        profile = Deidentifier(peer.options, self.secret, record=False)  # no report kept
        async for item in items:
            yield await asyncio.to_thread(self.one, profile, item)

    def one(self, profile: Deidentifier, item: RetrieveItem) -> Dataset | RetrieveFailure:
        try:
            ds = read(item.path, max_inflated=self.max_inflated)
            out, _ = profile(ds, file=item.sop_instance)
        except Exception as exc:  # noqa: BLE001 - one instance's failure, never its original
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("de-identification of %s failed, not sent: %s", item.sop_instance,
                        reason)
            return RetrieveFailure(item.sop_class, item.sop_instance,
                                   f"not de-identified: {reason}")
        if out.transfer_syntax is None:
            object.__setattr__(out, "transfer_syntax", ds.transfer_syntax)
        sent = str(out.get("SOPInstanceUID") or "")
        with self._lock:
            self._originals[sent] = item.sop_instance
            self._originals.move_to_end(sent)
            while len(self._originals) > REMEMBERED:
                self._originals.popitem(last=False)
        return out

    def originals(self, uids: Sequence[str]) -> list[str]:
        """The stored instances that the sent UIDs were made from (others unchanged)."""
        with self._lock:
            return [self._originals.get(uid, uid) for uid in uids]

    def note(self, destination_ae: str) -> str | None:
        """What the audit message says of a transfer to ``destination_ae``; None: the
        instances were sent as stored."""
        peer = self.peer(destination_ae)
        if peer is None:
            return None
        options = ", ".join(peer.options) or "no options"
        return f"de-identified copies (PS3.15 Annex E Basic Profile; {options})"
