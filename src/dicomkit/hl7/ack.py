"""General acknowledgements, ACK (HL7 v2.5.1 §2.14.1, original acknowledgement mode §2.9.2):

- MSH: sending and receiving application and facility swapped from the message's, a control ID
  of its own, ``ACK^<event>^ACK``, the message's processing ID, version and character set;
- MSA-1 ``AA`` (accepted: the change is committed), ``AE`` (error in the content: nothing of
  the message was applied, unless MSA-3 says otherwise) or ``AR`` (rejected: the message cannot
  be handled here at all: no readable MSH, an unsupported type, event, version or character
  set); MSA-2 the message's control ID (MSH-10); MSA-3 the reason in words;
- ERR (with AE/AR): ERR-1 the v2.3 style location and code (segment^sequence^field^code), ERR-2
  the Error Location (segment^sequence^field^repetition^component), ERR-3 the HL7 Table 0357
  code, ERR-4 severity E, ERR-8 the reason for a user.

The text is encoded in the message's own character set (MSH-18), with the message's
separators, escaping what it quotes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os

from dicomkit.hl7.messages import (
    CHARACTER_SETS,
    ERROR_TEXT,
    Header,
    HL7Error,
    Separators,
    escape,
)

ACCEPT = "AA"
ERROR = "AE"
REJECT = "AR"

_counter = itertools.count(1)


def control_id() -> str:
    """A control ID unique to this process and moment (at most 20 characters, ST)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M%S")
    return f"{stamp}{os.getpid() % 1000:03d}{next(_counter) % 100000:05d}"


def acknowledge(header: Header, code: str, text: str = "",
                error: HL7Error | None = None) -> bytes:
    """The ACK for a message with ``header``: ``code`` AA, AE or AR, ``text`` for MSA-3."""
    seps = header.separators if header.separators else Separators()

    def esc(value: str) -> str:
        return escape(value, seps)

    f, c = seps.field, seps.component
    now = dt.datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")
    version = header.version.strip() or "2.5.1"
    processing = header.processing_id.strip() or "P"
    event = esc(header.trigger_event)
    msh = [
        "MSH", seps.encoding_characters, esc(header.receiving_application),
        esc(header.receiving_facility), esc(header.sending_application),
        esc(header.sending_facility), now, "", f"ACK{c}{event}{c}ACK" if event else "ACK",
        control_id(), esc(processing), esc(version), "", "", "", "", "",
        esc(header.character_set.strip()) if _known(header) else "",
    ]
    segments = [f.join(msh).rstrip(f)]
    segments.append(f.join(["MSA", code, esc(header.control_id), esc(text[:80])]).rstrip(f))
    if error is not None:
        segments.append(_err(error, seps))
    message = "\r".join(segments) + "\r"
    return message.encode(_codec(header), "replace")


def _err(error: HL7Error, seps: Separators) -> str:
    f, c, s = seps.field, seps.component, seps.subcomponent
    code_text = ERROR_TEXT.get(error.code, "")
    location = [error.segment, str(error.sequence) if error.segment else "",
                str(error.field) if error.field else "", "1" if error.field else "",
                str(error.component) if error.component else ""]
    eld = c.join([error.segment, str(error.sequence) if error.segment else "",
                  str(error.field) if error.field else "",
                  s.join([str(error.code), escape(code_text, seps), "HL70357"])])
    fields = ["ERR", eld, c.join(location).rstrip(c),
              c.join([str(error.code), escape(code_text, seps), "HL70357"]), "E",
              "", "", "", escape(str(error), seps)]
    return f.join(fields)


def _known(header: Header) -> bool:
    return header.character_set.strip().upper() in CHARACTER_SETS


def _codec(header: Header) -> str:
    return header.codec if _known(header) else "ascii"


def for_error(header: Header, error: HL7Error) -> bytes:
    """AE or AR (as ``error.reject`` says) with the error in MSA-3 and ERR."""
    return acknowledge(header, REJECT if error.reject else ERROR, str(error), error)


def accepted(header: Header, text: str = "") -> bytes:
    return acknowledge(header, ACCEPT, text)
