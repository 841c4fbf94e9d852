"""What the archive sends on its own, under per-AE permissions (services/access.py): a storage
commitment report on a new association only to an AE that may "commit", an Instance
Availability Notification only to a peer that may "query"; otherwise the message stays owed
(the sender raises, the outbox keeps it). Both index back ends."""

from __future__ import annotations

import asyncio

import pytest

from dicomkit.archive import ian
from dicomkit.archive.commitment import KIND as COMMITMENT
from dicomkit.archive.scp import ArchiveHandler
from dicomkit.archive.store import Archive
from dicomkit.services.access import AccessPolicy
from dicomkit.services.commitment import CommitmentRequest, Reference

POLICY = {"CT": {"permissions": ["store", "commit"]},
          "WAS": {"permissions": ["store"]},
          "RIS": {"permissions": ["query"]},
          "VNA": {"permissions": ["store"]}}


def handler_for(archive: Archive) -> ArchiveHandler:
    return ArchiveHandler(archive, ae_title="PACS",
                          peers={"CT": ("127.0.0.1", 1), "WAS": ("127.0.0.1", 1),
                                 "RIS": ("127.0.0.1", 1), "VNA": ("127.0.0.1", 1)},
                          access=AccessPolicy.from_config(POLICY, "deny"))


def test_a_commitment_report_goes_only_to_an_ae_that_may_commit(archive: Archive) -> None:
    handler = handler_for(archive)
    request = CommitmentRequest("1.2.3.4", (Reference("1.2.840.10008.5.1.4.1.1.2", "1.2.3"),),
                                "WAS")
    key = handler.commitment.owe(request, 0)
    [message] = handler.outbox.messages(COMMITMENT, owed_only=True)
    assert message.pk == key
    with pytest.raises(PermissionError, match="WAS may not commit"):
        asyncio.run(handler.commitment.send(message))
    assert [m.pk for m in handler.outbox.messages(COMMITMENT, owed_only=True)] == [key]


def test_an_availability_notification_goes_only_to_a_peer_that_may_query(
        archive: Archive) -> None:
    handler = handler_for(archive)
    with pytest.raises(ValueError, match='IAN peer VNA may not "query"'):
        ian.install(handler, ["RIS", "VNA"])
    ian.install(handler, ["RIS"])
    handler.outbox.add(ian.KIND, "VNA", "1.2.3", {"dataset": {}, "sop_instance_uid": "1.2"})
    [message] = handler.outbox.messages(ian.KIND, owed_only=True)
    with pytest.raises(PermissionError, match="VNA may not query"):
        asyncio.run(ian.send_notification(handler, message))
