"""Supplement 223: Inventory Storage and the Inventory Query/Retrieve Service Class, SCP side,
independent of where the Inventory SOP Instances are kept.

- Inventory Storage (1.2.840.10008.5.1.4.1.1.201.1) is a Non-Patient Object Storage SOP Class
  (PS3.4 GG; PS3.17 YYYY.4.1): C-STORE with the statuses of PS3.4 B.2.3 / GG.4.2, through
  :class:`~dicomkit.services.storage.StorageSCP` on an
  :class:`~dicomkit.services.storage.InstanceStore` that keeps Inventories (archive/ keeps them
  outside the patient tables).
- Inventory FIND / MOVE / GET (PS3.4 JJ): a single level information model (JJ.2: the
  Attributes of the Inventory IE only); Query/Retrieve Level (0008,0052) is not relevant and is
  ignored when an SCU sends it (JJ.3.1); the Unique Key of a C-MOVE / C-GET is SOP Instance UID
  (0008,0018), one UID or a list (JJ.3.2, JJ.3.3); no Extended or Relational behaviour.

:class:`InventoryQueryRetrieveSCP` answers all four on an :class:`InventoryData`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding.json import from_json
from dicomkit.errors import DicomError
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import RetrieveItem, ServiceFailure, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.services.access import AccessPolicy
from dicomkit.services.identifiers import location_attributes, response_charset
from dicomkit.services.qr import IdentifierError
from dicomkit.services.storage import InstanceStore, StorageSCP, all_transfer_syntaxes

log = logging.getLogger("dicomkit.services.inventory_qr")

INVENTORY_STORAGE = registered("InventoryStorage")
INVENTORY_FIND = registered("InventoryFind")
INVENTORY_MOVE = registered("InventoryMove")
INVENTORY_GET = registered("InventoryGet")
QUERY_RETRIEVE_LEVEL = 0x00080052
SOP_INSTANCE_UID = 0x00080018
MAX_UIDS = 10_000  # a C-MOVE / C-GET UID list longer than this is refused (A900)


class InventoryData(Protocol):
    """What the Inventory Q/R SCP needs of the kept Inventories (calls block: worker
    threads)."""

    def search(self, identifier: Dataset) -> list[dict[str, Any]]:
        """The kept Inventory SOP Instances matching ``identifier`` (Query/Retrieve Level
        removed), each as its Inventory IE attributes in DICOM JSON; raises
        :class:`~dicomkit.services.qr.IdentifierError` for a key that cannot be matched."""
        ...

    def instances(self, sop_uids: list[str]) -> list[RetrieveItem]:
        """The kept Inventory SOP Instances among ``sop_uids``, as files to send."""
        ...


def _text(value: Any) -> str:
    return str(value).strip("\0 ") if isinstance(value, str) else ""


def retrieve_uids(identifier: Dataset) -> list[str]:
    """The SOP Instance UID (0008,0018) list of a C-MOVE / C-GET identifier (JJ.3.2: one UID
    or a list); :class:`ServiceFailure` A900 when there is none or too many."""
    if SOP_INSTANCE_UID not in identifier:
        raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                             "no SOP Instance UID (the Unique Key, PS3.4 JJ.3.2)")
    value = identifier.get("SOPInstanceUID")
    values = value if isinstance(value, list) else [value]
    uids = [_text(v) for v in values if _text(v)]
    if not uids:
        raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                             "SOP Instance UID is empty (one UID or a list is required)")
    if len(uids) > MAX_UIDS:
        raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                             f"more than {MAX_UIDS} SOP Instance UIDs")
    return uids


class InventoryQueryRetrieveSCP(ServiceHandler):
    """Inventory Storage (PS3.4 GG) and Inventory FIND / MOVE / GET (PS3.4 JJ) as an SCP.
    With ``access``: a C-STORE needs "store", a C-FIND "query", a C-MOVE / C-GET "retrieve"
    (and the C-MOVE destination allowed), else 0124H."""

    def __init__(self, data: InventoryData, store: InstanceStore, *,
                 ae_title: str = "DICOMKIT", access: AccessPolicy | None = None,
                 transfer_syntaxes: Sequence[str] | None = None) -> None:
        self.data = data
        self.storage = StorageSCP(store, access)
        self.ae_title = ae_title
        self.access = access
        self.syntaxes = list(transfer_syntaxes or all_transfer_syntaxes())

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {INVENTORY_STORAGE: self.syntaxes, INVENTORY_FIND: UNCOMPRESSED_TS,
                INVENTORY_MOVE: UNCOMPRESSED_TS, INVENTORY_GET: UNCOMPRESSED_TS}

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        """A C-GET SCU takes the SCP role of Inventory Storage to receive them."""
        return abstract_syntax == INVENTORY_STORAGE

    def store_sink(self, association: Association, message: Message,
                   context: AcceptedContext) -> DataSink | None:
        return self.storage.sink(association, message, context)

    async def store(self, association: Association, message: Message) -> int:
        return await self.storage.commit(association, message)

    def authorise(self, association: Association, request: str, operation: str,
                  destination: str | None = None) -> None:
        if self.access is None:
            return
        refused = self.access.refusal(association.calling_ae, operation, destination)
        if refused is not None:
            log.warning("[%s] %s refused (0124): %s", association.describe(), request, refused)
            raise ServiceFailure(Status.NOT_AUTHORISED, f"not authorised: {refused}")

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | bytes | None]]:
        """C-FIND on the Inventory Q/R information model (JJ.3.1): a pending response per
        kept Inventory SOP Instance matching the keys, with the requested keys' values."""
        self.authorise(association, "Inventory C-FIND", "query")
        keys = Dataset()
        for element in identifier:
            if element.tag not in (QUERY_RETRIEVE_LEVEL, 0x00080005):
                keys.set(element.tag, element.value, element.VR)
        try:
            found = await asyncio.to_thread(self.data.search, keys)
        except (IdentifierError, DicomError, ValueError) as exc:
            raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                                 str(exc)[:64]) from exc
        tags = [int(element.tag) for element in keys]
        located = location_attributes(tags, association.called_ae.strip() or self.ae_title)
        for n, attrs in enumerate(found, 1):
            attrs.update(located)
            yield Status.PENDING, response(keys, tags, attrs)
            if n % 16 == 0:
                await asyncio.sleep(0)  # let a C-CANCEL be read

    async def retrieve(self, association: Association, message: Message,
                       identifier: Dataset) -> AsyncIterator[RetrieveItem]:
        """C-MOVE / C-GET (JJ.3.2, JJ.3.3): the kept Inventory SOP Instances named by SOP
        Instance UID; UIDs not kept are not matched (no sub-operation)."""
        is_move = message.command_field == CommandField.C_MOVE_RQ
        self.authorise(association, "Inventory C-MOVE" if is_move else "Inventory C-GET",
                       "retrieve",
                       str(message.command.get("MoveDestination") or "") if is_move else None)
        uids = retrieve_uids(identifier)
        for item in await asyncio.to_thread(self.data.instances, uids):
            yield item


def response(identifier: Dataset, tags: list[int], attrs: dict[str, Any]) -> Dataset:
    """The requested keys with the values kept (PS3.4 C.4.1.1.3.2, as JJ.3.1 refers to it),
    zero length when not kept, and the Specific Character Set the values need."""
    wanted = {f"{tag:08X}": attrs[f"{tag:08X}"] for tag in tags if f"{tag:08X}" in attrs}
    charset = response_charset({**wanted, "00080005": attrs.get("00080005") or {}})
    if charset:
        wanted = {"00080005": {"vr": "CS", "Value": charset}, **wanted}
    out = from_json(wanted) if wanted else Dataset()
    for tag in tags:
        if tag not in out:
            element = identifier[tag]
            out.set(tag, None if element.VR != "SQ" else [], element.VR)
    return out
