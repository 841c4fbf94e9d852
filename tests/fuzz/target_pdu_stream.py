"""Fuzz target: bytes as a stream of upper-layer PDUs (PS3.8 §9.3), the way an association
reads its socket: a 6-byte header, a body of PDU-length bytes, the next PDU after it. Command
PDVs of P-DATA-TF are joined until the last fragment (PS3.8 Annex E) and decoded as a DIMSE
command set, as the association does.

Documented errors: :class:`dicomkit.net.pdu.PDUError` from ``parse_header``/``decode``/
``encode``, :class:`dicomkit.errors.InvalidDicomError` from the command set. A PDU that decodes
must encode again (or raise ``PDUError``) and decode back to the same object.
"""

from __future__ import annotations

from dicomkit.net import pdu as P
from tests.fuzz.target_dimse_command import read_message

HEADER = 6


def round_trip(pdu: P.PDU) -> None:
    try:
        again = P.encode(pdu)
    except P.PDUError:
        return
    if isinstance(pdu, P.AAssociateRQ | P.AAssociateAC):
        # Encoding sends sub-items in increasing item-type order (PS3.8 §9.3.1).
        pdu.user_info.unknown.sort(key=lambda sub: sub[0])
    assert P.decode_pdu(again) == pdu, (pdu, again)


def TestOneInput(data: bytes) -> None:
    view = memoryview(data)
    pos = 0
    command = bytearray()
    while pos < len(view):
        try:
            pdu_type, length = P.parse_header(view[pos : pos + HEADER])
            body = view[pos + HEADER : pos + HEADER + length]
            if len(body) < length:
                return  # the connection closed inside the PDU
            pdu = P.decode(pdu_type, body)
        except P.PDUError:
            return
        pos += HEADER + length
        round_trip(pdu)
        if isinstance(pdu, P.PDataTF):
            for pdv in pdu.pdvs:
                if not pdv.is_command:
                    continue
                command += pdv.data
                if pdv.is_last:
                    read_message(bytes(command))
                    command.clear()
