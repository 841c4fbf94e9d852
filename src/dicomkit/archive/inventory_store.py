"""The Inventory SOP Instances the archive keeps (Supplement 223): Inventory Storage (PS3.4 GG)
and the data of the Inventory Query/Retrieve SCP (PS3.4 JJ).

An Inventory has no Patient or Study (PS3.3 A.88, a non-patient object, PS3.17 YYYY.4.1), so
it is not indexed in the patient tables: each one is a row of ``inventory_instances``
(migration 0009) and a file under the data folder:

- received by C-STORE: ``DATA/inventories/stored/<SOP Instance UID>.dcm``;
- produced by Inventory Creation: where the worker wrote it,
  ``DATA/inventories/<Transaction UID>/<SOP Instance UID>.dcm``.

Durability as for images (PS3.4 B.2.3): a C-STORE is answered Success only once its file is
fsynced and renamed into place (folder synced) and its row committed.

:class:`InventoryArchive` is both the Storage SCP's
:class:`~dicomkit.services.storage.InstanceStore` and the Inventory Q/R SCP's
:class:`~dicomkit.services.inventory_qr.InventoryData`. Its C-FIND matches in Python on the
kept Inventory IE attributes (DICOM JSON, the Inventoried Studies Sequence left out) with
:func:`dicomkit.archive.matching.python_predicate` (the matching rules of PS3.4 C.2.2.2); a SOP
Instance UID or Transaction UID key narrows the rows in SQL first.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

import dicomkit.durable as durable
from dicomkit.archive.matching import (
    Options,
    QueryError,
    check_characters,
    is_universal,
    python_predicate,
)
from dicomkit.archive.schema import inventory_instances, utc_now
from dicomkit.archive.store import Archive, SpoolSink, read_whole, require_whole
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.encoding.json import to_json_dict
from dicomkit.encoding.reader import read
from dicomkit.errors import InvalidDicomError
from dicomkit.net.service import RetrieveItem
from dicomkit.net.storage import safe_uid_path
from dicomkit.services.inventory_qr import INVENTORY_STORAGE
from dicomkit.services.qr import IdentifierError
from dicomkit.services.storage import DataSetMismatch, Stored

INVENTORIED_STUDIES = 0x00080423  # left out of the kept attributes (the bulk of an Inventory)
NOT_KEPT = frozenset({INVENTORIED_STUDIES})
UID_CHUNK = 500


def _text(value: Any) -> str:
    return str(value).strip("\0 ") if value is not None else ""


def key_values(element: DataElement) -> list[str]:
    """The values of a matching key as text (a list of UIDs, a range, a wildcard...)."""
    value = element.value
    values = value if isinstance(value, list) else [value]
    return ["" if v is None else str(v).strip(" \0") for v in values]


class InventoryArchive:
    """The Inventory SOP Instances of an :class:`~dicomkit.archive.store.Archive`."""

    def __init__(self, archive: Archive, *,
                 resources: Callable[[BaseException], bool] | None = None) -> None:
        self.archive = archive
        self.resources = resources
        self.engine = archive.index.engine
        self.folder = os.path.join(archive.data_dir, "inventories")
        self.received_folder = os.path.join(self.folder, "stored")

    # -- paths ---------------------------------------------------------------------------------
    def absolute(self, relative: str) -> str:
        root = self.archive.data_dir
        path = os.path.abspath(os.path.join(root, relative))
        if os.path.commonpath([path, root]) != root:
            raise InvalidDicomError(f"inventory path {relative!r} escapes the data folder")
        return path

    # -- Inventory Storage (InstanceStore) -----------------------------------------------------
    def sink(self, meta: bytes, transfer_syntax: str) -> SpoolSink:
        os.makedirs(self.received_folder, exist_ok=True)
        return SpoolSink(self.received_folder, meta, transfer_syntax, self.archive.fsync)

    async def commit(self, received: object, announced: tuple[str, str]) -> Stored:
        if not isinstance(received, SpoolSink) or received.received is None:
            raise OSError(f"no data set received: {received!r}")
        return await asyncio.to_thread(self.keep, received.received, announced,
                                       received.transfer_syntax)

    def out_of_resources(self, exc: BaseException) -> bool:
        """Whether an index failure is a lack of resources (A700): the archive's own rule
        (:func:`dicomkit.archive.scp.out_of_resources`, given by the handler)."""
        return self.resources(exc) if self.resources is not None else isinstance(
            exc, (MemoryError, OSError))

    def keep(self, data: bytes | str, announced: tuple[str, str] | None = None,
             transfer_syntax: str = "") -> Stored:
        """Keep one received Inventory: ``data`` a whole Part 10 file in memory, or the path of
        a synced temporary file (removed on failure). Checks it is an Inventory whose UIDs
        are the announced ones (else :class:`DataSetMismatch`, A900), fsyncs and renames it
        into place, then commits its row."""
        temporary = data if isinstance(data, str) else None
        try:
            if isinstance(data, str):
                header = read_whole(data, self.archive.max_inflated)
            else:
                header = read(data, max_inflated=self.archive.max_inflated)
                require_whole(header)
            sop_class = _text(header.get("SOPClassUID"))
            sop_uid = _text(header.get("SOPInstanceUID"))
            if sop_class != INVENTORY_STORAGE:
                raise DataSetMismatch(f"SOP Class {sop_class or '(none)'} is not Inventory "
                                      "Storage")
            if announced is not None and (sop_class, sop_uid) != tuple(
                    _text(v) for v in announced):
                raise DataSetMismatch(f"data set {sop_uid or '(no SOP Instance UID)'} is not "
                                      f"the announced {announced[1]}")
            final = safe_uid_path(self.received_folder, sop_uid)
            folders = durable.make_folders(final)
            if temporary is None:
                assert isinstance(data, bytes)
                temporary = durable.write_temporary(self.received_folder, data,
                                                    fsync=self.archive.fsync)
        except BaseException:
            if temporary is not None:
                durable.remove(temporary)
            raise
        durable.place(temporary, final, fsync=self.archive.fsync, folders=folders)
        ts = header.transfer_syntax.uid if header.transfer_syntax else transfer_syntax
        result = self.record(header, final, ts, source="received")
        return Stored(sop_uid, result)

    def record(self, header: Dataset, path: str, transfer_syntax: str, *,
               source: str, transaction_uid: str = "") -> str:
        """Add or replace the row of an Inventory in place at ``path``; ``added`` or
        ``replaced``."""
        kept = Dataset()
        for element in header:
            if element.tag not in NOT_KEPT and element.tag >> 16 != 0x0002:
                kept.set(element.tag, element.value, element.VR)
        attrs = json.dumps(to_json_dict(kept), ensure_ascii=False)
        sop_uid = _text(header.get("SOPInstanceUID"))
        transaction = transaction_uid or _text(header.get("TransactionUID"))
        values = {
            "sop_class": _text(header.get("SOPClassUID")), "transfer_syntax": transfer_syntax,
            "path": os.path.relpath(path, self.archive.data_dir),
            "size": os.path.getsize(path), "transaction_uid": transaction[:64],
            "source": source, "attrs": attrs, "created": utc_now()}
        with self.engine.begin() as connection:
            known = connection.execute(select(inventory_instances.c.pk).where(
                inventory_instances.c.sop_uid == sop_uid)).first()
            if known is None:
                connection.execute(inventory_instances.insert().values(sop_uid=sop_uid,
                                                                       **values))
                return "added"
            connection.execute(inventory_instances.update().where(
                inventory_instances.c.pk == known.pk).values(**values))
            return "replaced"

    def register(self, paths: Iterable[str], transaction_uid: str) -> int:
        """Keep the Inventory SOP Instances an Inventory Creation wrote (files in place)."""
        count = 0
        for path in paths:
            header = read_whole(path)
            ts = header.transfer_syntax.uid if header.transfer_syntax else ""
            self.record(header, path, ts, source="produced", transaction_uid=transaction_uid)
            count += 1
        return count

    def forget(self, transaction_uid: str) -> None:
        """Drop the rows of an inventory produced again (its files are rewritten)."""
        with self.engine.begin() as connection:
            connection.execute(inventory_instances.delete().where(
                inventory_instances.c.transaction_uid == transaction_uid,
                inventory_instances.c.source == "produced"))

    # -- Inventory Q/R (InventoryData) ----------------------------------------------------------
    def search(self, identifier: Dataset) -> list[dict[str, Any]]:
        """The kept Inventories matching ``identifier`` (PS3.4 JJ.3.1), in the order kept."""
        statement = select(inventory_instances.c.attrs).order_by(inventory_instances.c.pk)
        predicates = []
        options = Options()
        try:
            for element in identifier:
                check_characters(element)
                values = key_values(element) if element.VR != "SQ" else []
                if element.tag == 0x00080018 and not is_universal(values):
                    statement = statement.where(inventory_instances.c.sop_uid.in_(values))
                    continue
                if element.tag == 0x00081195 and not is_universal(values) and not any(
                        "*" in v or "?" in v for v in values):
                    statement = statement.where(
                        inventory_instances.c.transaction_uid.in_(values))
                    continue
                predicate = python_predicate(element.tag, element.VR, values, element, options)
                if predicate is not None:
                    predicates.append(predicate)
        except QueryError as exc:
            raise IdentifierError(str(exc)) from exc
        out = []
        with self.engine.connect() as connection:
            for (text,) in connection.execute(statement):
                attrs = json.loads(text or "{}")
                if all(predicate(attrs) for predicate in predicates):
                    out.append(attrs)
        return out

    def instances(self, sop_uids: list[str]) -> list[RetrieveItem]:
        items: list[RetrieveItem] = []
        with self.engine.connect() as connection:
            for start in range(0, len(sop_uids), UID_CHUNK):
                chunk = sop_uids[start:start + UID_CHUNK]
                rows = connection.execute(select(
                    inventory_instances.c.path, inventory_instances.c.sop_class,
                    inventory_instances.c.sop_uid, inventory_instances.c.transfer_syntax)
                    .where(inventory_instances.c.sop_uid.in_(chunk))
                    .order_by(inventory_instances.c.pk)).all()
                items.extend(RetrieveItem(self.absolute(row.path), row.sop_class, row.sop_uid,
                                          row.transfer_syntax or None) for row in rows)
        return items

    def path_of(self, sop_uid: str) -> str | None:
        """The file of a kept Inventory SOP Instance (None: not kept)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(inventory_instances.c.path).where(
                inventory_instances.c.sop_uid == sop_uid)).first()
        return None if row is None else self.absolute(row.path)
