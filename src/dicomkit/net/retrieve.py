"""C-MOVE and C-GET sub-operations (PS3.4 C.4.2, C.4.3): storage of each matching instance,
to a known destination (MOVE) or back on the same association (GET), with pending counts."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.reader import read
from dicomkit.net.association import Association, AssociationError
from dicomkit.net.dimse import CommandField, Message, Status

if TYPE_CHECKING:
    from dicomkit.net.server import Server

log = logging.getLogger("dicomkit.net.retrieve")


def _header(source: Any) -> tuple[str, str, str | None]:
    ds = source if isinstance(source, Dataset) else read(source, stop_before_pixels=True,
                                                          tags=[0x00080016, 0x00080018])
    ts = ds.transfer_syntax.uid if ds.transfer_syntax else None
    return str(ds.get("SOPClassUID") or ""), str(ds.get("SOPInstanceUID") or ""), ts


def _requestor_is_scp(association: Association, sop_class: str) -> bool:
    """PS3.7 D.3.3.4: C-GET storage sub-operations need the requestor to have agreed to act
    as SCP for the SOP class (SCP/SCU Role Selection); without it none may be sent."""
    return any(c.abstract_syntax == sop_class and c.scp_role
               for c in association.contexts.values())


async def run_retrieve(server: Server, association: Association, message: Message,
                       cancel: asyncio.Event) -> None:
    from dicomkit.net.client import Client, connect
    from dicomkit.net.server import ServiceFailure
    from dicomkit.net.uids import UNCOMPRESSED_TS

    is_move = message.command_field == CommandField.C_MOVE_RQ
    identifier = server._decode(association, message)
    if identifier is None:
        await server._respond(association, message, Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS)
        return
    destination = None
    if is_move:
        aet = str(message.command.get("MoveDestination") or "").strip()
        destination = server.handler.move_destination(aet)
        if destination is None:
            log.warning("[%s] C-MOVE to unknown destination %r refused (A801)",
                        association.describe(), aet)
            await server._respond(association, message, Status.MOVE_DESTINATION_UNKNOWN,
                                  ErrorComment=f"unknown move destination {aet!r}"[:64])
            return
    try:
        sources = [s async for s in server.handler.retrieve(association, message, identifier)]
    except ServiceFailure as exc:
        await server._respond(association, message, exc.status, ErrorComment=exc.comment[:64])
        return
    headers = [_header(s) for s in sources]
    remaining, completed, failed, warning = len(sources), 0, 0, 0
    failed_uids: list[str] = []

    async def pending() -> None:
        await server._respond(association, message, Status.PENDING,
                              NumberOfRemainingSuboperations=remaining,
                              NumberOfCompletedSuboperations=completed,
                              NumberOfFailedSuboperations=failed,
                              NumberOfWarningSuboperations=warning)

    store_client: Client | None = None
    if is_move and sources:
        assert destination is not None
        syntaxes: dict[str, list[str]] = {}
        for sop_class, _uid, ts in headers:
            syntaxes.setdefault(sop_class, [])
            if ts and ts not in syntaxes[sop_class]:
                syntaxes[sop_class].append(ts)
        contexts: list[tuple[str, list[str]]] = []
        for sop_class, own in syntaxes.items():
            compressed = [t for t in own if t not in UNCOMPRESSED_TS]
            for ts in compressed:
                contexts.append((sop_class, [ts]))
            contexts.append((sop_class, list(UNCOMPRESSED_TS)))
        try:
            store_client = await connect(
                destination[0], destination[1], calling_aet=server.ae_title,
                called_aet=str(message.command.get("MoveDestination")).strip(),
                contexts=contexts[:128], timeouts=server.timeouts)
        except AssociationError as exc:
            log.warning("C-MOVE destination unreachable: %s", exc)
            await server._respond(association, message, 0xA801,
                                  ErrorComment="move destination unreachable")
            return
    elif not is_move:
        store_client = Client(association, handle_requests=False)
    originator = (association.calling_ae, message.message_id or 0) if is_move else None
    try:
        for source, (sop_class, sop_instance, _ts) in zip(sources, headers, strict=True):
            if cancel.is_set():
                break
            if not is_move and not _requestor_is_scp(association, sop_class):
                log.warning("[%s] C-GET: the requestor took no SCP role for %s; %s not sent",
                            association.describe(), sop_class, sop_instance)
                category = "Failure"
            else:
                try:
                    assert store_client is not None
                    rsp = await store_client.store(source, move_originator=originator)
                    category = Status.category(int(rsp.get("Status") or 0))
                except (AssociationError, OSError) as exc:
                    log.warning("sub-operation for %s failed: %s", sop_instance, exc)
                    category = "Failure"
            remaining -= 1
            if category == "Success":
                completed += 1
            elif category == "Warning":
                warning += 1
            else:
                failed += 1
                failed_uids.append(sop_instance)
            if remaining:
                await pending()
    finally:
        if is_move and store_client is not None:
            try:
                await store_client.release()
            except (AssociationError, OSError):
                pass
    data = None
    if failed_uids or (cancel.is_set() and remaining):
        data = Dataset()
        data.FailedSOPInstanceUIDList = failed_uids + [h[1] for h in headers[len(headers)
                                                                           - remaining:]]
    if cancel.is_set() and remaining:
        status = Status.CANCEL
    elif failed or warning:
        status = 0xB000  # sub-operations complete, one or more failures or warnings
    else:
        status = Status.SUCCESS
    log.info("[%s] C-%s: %d completed, %d failed, %d warning, %d not attempted; status %04X",
             association.describe(), "MOVE" if is_move else "GET", completed, failed, warning,
             remaining, status)
    await server._respond(association, message, status, data,
                          NumberOfRemainingSuboperations=remaining if status == Status.CANCEL
                          else None,
                          NumberOfCompletedSuboperations=completed,
                          NumberOfFailedSuboperations=failed,
                          NumberOfWarningSuboperations=warning)
