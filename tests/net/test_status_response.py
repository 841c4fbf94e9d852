"""The C-STORE response's command set encoded straight from the request's fields
(net/service.py ``status_response``) is byte for byte the general path's
``encode_command(response_to(...))``, and falls back (None) for what is not of the common form."""

from __future__ import annotations

import pytest

from dicomkit.net.dimse import (
    CommandField,
    Message,
    command,
    decode_command,
    encode_command,
    response_to,
)
from dicomkit.net.service import status_response

CT = "1.2.840.10008.5.1.4.1.1.2"


def received(field_: CommandField, **values: object) -> Message:
    """A request as the association decodes it from the wire."""
    return Message(1, decode_command(encode_command(command(field_, **values))))


REQUESTS = [
    received(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT, AffectedSOPInstanceUID="1.2.3.4",
             MessageID=7, Priority=0),
    received(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT,  # odd lengths: padded
             AffectedSOPInstanceUID="1.2.3.45", MessageID=65535, Priority=2),
    received(CommandField.C_STORE_RQ, AffectedSOPClassUID="1.2.840.10008.5.1.4.1.1.7",
             AffectedSOPInstanceUID="2.25." + "9" * 59, MessageID=0, Priority=1),
    received(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT, MessageID=3),  # no instance UID
    received(CommandField.C_STORE_RQ, MessageID=3),  # no UIDs at all
    received(CommandField.C_ECHO_RQ, AffectedSOPClassUID="1.2.840.10008.1.1", MessageID=9),
    received(CommandField.C_FIND_RQ, AffectedSOPClassUID="1.2.840.10008.5.1.4.1.2.2.1",
             MessageID=12, Priority=0),  # the instance UID is not echoed for C-FIND
    received(CommandField.N_SET_RQ, RequestedSOPClassUID="1.2.840.10008.3.1.2.3.3",
             RequestedSOPInstanceUID="1.2.3.4.5", MessageID=4),
    received(CommandField.N_CREATE_RQ, AffectedSOPClassUID="1.2.840.10008.3.1.2.3.3",
             MessageID=5),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda m: f"{m.command_field:04X}")
@pytest.mark.parametrize("status", [0x0000, 0x0001, 0x0110, 0x0124, 0xA700, 0xA900, 0xB000,
                                    0xC000, 0xFE00, 0xFF00, 0xFFFF])
def test_the_same_bytes_as_the_general_path(request_: Message, status: int) -> None:
    fast = status_response(request_, status)
    assert fast is not None
    assert fast == encode_command(response_to(request_, status))
    assert decode_command(fast).get("Status") == status


def test_a_c_store_success_takes_the_fast_path() -> None:
    assert status_response(REQUESTS[0], 0) is not None


def hostile(**values: object) -> Message:
    message = received(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT,
                       AffectedSOPInstanceUID="1.2.3", MessageID=1)
    for keyword, value in values.items():
        setattr(message.command, keyword, value)
    return message


@pytest.mark.parametrize("message", [
    hostile(AffectedSOPInstanceUID="1.2.3\\4.5"),  # two values
    hostile(AffectedSOPInstanceUID="1.2.\u00e93"),  # not ASCII
    hostile(AffectedSOPClassUID=["1.2", "3.4"]),
])
def test_what_is_not_of_the_common_form_falls_back(message: Message) -> None:
    assert status_response(message, 0) is None


@pytest.mark.parametrize("status", [-1, 0x10000])
def test_a_status_out_of_range_falls_back(status: int) -> None:
    assert status_response(REQUESTS[0], status) is None


def test_a_response_field_or_unknown_command_falls_back() -> None:
    unknown = received(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT, MessageID=1)
    unknown.command.CommandField = 0x0FF1  # no such DIMSE command
    assert status_response(unknown, 0) is None
    response = received(CommandField.C_STORE_RSP, AffectedSOPClassUID=CT, Status=0)
    assert status_response(response, 0) is None
