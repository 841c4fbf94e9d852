"""Fuzz target: a DIMSE command set (PS3.7 §6.3, Implicit VR Little Endian) as the association
assembles it from command PDVs, then read the way the association and the services read it.

Documented errors: :class:`dicomkit.errors.InvalidDicomError` from ``decode_command`` (a
malformed command set, or one without Command Field); a command that decodes must answer the
``Message`` properties the association dispatches on without raising.
"""

from __future__ import annotations

from dicomkit.errors import DicomError
from dicomkit.net.dimse import Message, decode_command


def read_message(data: bytes) -> None:
    try:
        command = decode_command(data)
    except DicomError:
        return
    message = Message(1, command)
    _ = (message.command_field, message.is_response, message.has_data, message.message_id,
         message.responding_to, message.status)
    for element in command:
        _ = element.value, repr(element)


def TestOneInput(data: bytes) -> None:
    read_message(data)
