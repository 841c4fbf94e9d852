"""Per-AE permissions: which calling AE title may store, query, retrieve or delete, report
procedure steps (MPPS) and request storage commitment, and to which C-MOVE destinations it may
send.

DICOM identifies a peer on an association by its calling AE title (PS3.8 §7.1.1.3), or better
by its TLS client certificate (PS3.15 B.1); this policy keys on the title. Where it is
enforced (``services.storage.StorageSCP``, ``services.qr.QueryRetrieveSCP``,
``services.worklist.WorklistSCP``, ``services.mpps.MppsSCP``,
``services.commitment.StorageCommitmentSCP``, the archive's report and notification senders,
``cli/archive.py``):

- an AE the policy does not know, under ``default = deny``: the association is rejected,
  A-ASSOCIATE-RJ permanent, "calling-AE-title-not-recognized" (PS3.8 Table 9-21);
- a request the AE's permissions do not cover: the request is refused with 0124H "Refused:
  Not Authorised" (PS3.7 Annex C.5.x; listed for Storage, Q/R FIND, MOVE and GET in PS3.4, and
  a general DIMSE-N failure for N-CREATE, N-SET and N-ACTION, PS3.7 §10.1): "query" for
  C-FIND of every model, Modality Worklist included; "mpps" for MPPS N-CREATE and N-SET;
  "commit" for the Storage Commitment N-ACTION; "print" for every Print Management request
  (PS3.4 H). C-ECHO is always allowed on an accepted
  association;
- what the archive sends on its own: a storage commitment report on a new association goes
  only to an AE that may "commit" (the requestor), an Instance Availability Notification only
  to a peer that may "query" (it tells what the archive holds, as a query would); otherwise it
  stays owed until the configuration allows it;
- a C-MOVE to a destination the archive knows but this AE may not send to: 0124H too (A801H
  "Move Destination unknown" stays for a title the archive does not know at all).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dicomkit.net.association import Association
from dicomkit.net.dimse import Status
from dicomkit.net.service import ServiceFailure

log = logging.getLogger("dicomkit.services.access")

OPERATIONS = ("store", "query", "retrieve", "delete", "mpps", "commit", "print")
"""C-STORE (and STOW-RS); C-FIND (Q/R and Modality Worklist) and receiving availability
notifications; C-MOVE and C-GET; deletion (no DIMSE service deletes); MPPS N-CREATE and N-SET;
Storage Commitment N-ACTION and receiving its report; Print Management (PS3.4 H)."""


class AccessConfigError(ValueError):
    """A permission table that cannot be used, naming the AE and the setting."""


@dataclass(frozen=True)
class AEPermissions:
    """What one calling AE may do. ``move_destinations`` None: any destination the archive
    knows; otherwise only these titles."""

    operations: frozenset[str]
    move_destinations: frozenset[str] | None = None

    def allows(self, operation: str) -> bool:
        return operation in self.operations

    def may_move_to(self, destination: str) -> bool:
        return self.move_destinations is None or destination.strip() in self.move_destinations


OPEN = AEPermissions(frozenset(OPERATIONS))


@dataclass(frozen=True)
class AccessPolicy:
    """The permissions of the AEs named, and ``default`` for any other calling AE (None:
    unknown AEs are refused an association)."""

    entities: Mapping[str, AEPermissions]
    default: AEPermissions | None = OPEN

    def of(self, calling_ae: str) -> AEPermissions | None:
        return self.entities.get(calling_ae.strip(), self.default)

    def allows(self, calling_ae: str, operation: str) -> bool:
        permissions = self.of(calling_ae)
        return permissions is not None and permissions.allows(operation)

    def may_move_to(self, calling_ae: str, destination: str) -> bool:
        permissions = self.of(calling_ae)
        return permissions is not None and permissions.may_move_to(destination)

    def refusal(self, calling_ae: str, operation: str,
                destination: str | None = None) -> str | None:
        """Why ``calling_ae`` may not do ``operation`` (to the C-MOVE ``destination``), or
        None when it may."""
        calling = calling_ae.strip()
        if not self.allows(calling, operation):
            return f"{calling} may not {operation}"
        if destination is not None and not self.may_move_to(calling, destination):
            return f"{calling} may not move to {destination}"
        return None

    def accepted_calling_aets(self, accept: Iterable[str] | None) -> list[str] | None:
        """The calling AE titles an association may come from, given an accept list (None:
        any): under ``default = deny`` only the AEs named here (and in ``accept``)."""
        if self.default is not None:
            return None if accept is None else list(accept)
        named = set(self.entities)
        return sorted(named if accept is None else named & {a.strip() for a in accept})

    @classmethod
    def from_config(cls, table: Mapping[str, Any], default: str = "allow") -> AccessPolicy:
        """``[ae.TITLE]`` tables (``permissions = [...]``, optional ``move_destinations =
        [...]``) and ``ae_default`` ("allow": any other AE may do everything; "deny": it is
        not accepted)."""
        if default not in ("allow", "deny"):
            raise AccessConfigError(f"ae_default must be \"allow\" or \"deny\", not {default!r}")
        entities: dict[str, AEPermissions] = {}
        for title, entry in table.items():
            where = f"[ae.{title}]"
            if not 0 < len(title.strip()) <= 16:
                raise AccessConfigError(f"{where}: an AE title is 1 to 16 characters "
                                        "(PS3.5 Table 6.2-1, AE)")
            if not isinstance(entry, Mapping):
                raise AccessConfigError(f"{where} must be a table")
            unknown = sorted(set(entry) - {"permissions", "move_destinations"})
            if unknown:
                raise AccessConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                                        "(known: permissions, move_destinations)")
            operations = _titles(entry.get("permissions", []), f"{where} permissions")
            wrong = sorted(set(operations) - set(OPERATIONS))
            if wrong:
                raise AccessConfigError(f"{where} permissions: unknown {', '.join(wrong)} "
                                        f"(known: {', '.join(OPERATIONS)})")
            destinations = entry.get("move_destinations")
            entities[title.strip()] = AEPermissions(
                frozenset(operations), None if destinations is None else frozenset(
                    d.strip() for d in _titles(destinations, f"{where} move_destinations")))
        return cls(entities, OPEN if default == "allow" else None)


def authorise(access: AccessPolicy | None, association: Association, operation: str,
              request: str) -> None:
    """Raise :class:`~dicomkit.net.service.ServiceFailure` 0124H (Refused: Not Authorised)
    when the calling AE of ``association`` may not do ``operation``; ``request`` names it in
    the log ("MPPS N-CREATE")."""
    if access is None:
        return
    refused = access.refusal(association.calling_ae, operation)
    if refused is not None:
        log.warning("[%s] %s refused (0124): %s", association.describe(), request, refused)
        raise ServiceFailure(Status.NOT_AUTHORISED, f"not authorised: {refused}")


def _titles(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AccessConfigError(f"{where} must be a list of strings, not {value!r}")
    return list(value)
