"""PS3.8 §9.2: the DICOM Upper Layer state machine, as the standard's tables.

``TRANSITIONS`` is Table 9-10 read row by row: for each event, the action taken in each state
where the table names one. An event in a state the table leaves blank is a protocol error for
PDU events (handled as Evt19) and a programming error for local primitives.
"""

from __future__ import annotations

from enum import Enum

# Table 9-1 … 9-5: states.
STATES = {
    "Sta1": "Idle",
    "Sta2": "Transport connection open (awaiting A-ASSOCIATE-RQ PDU)",
    "Sta3": "Awaiting local A-ASSOCIATE response primitive",
    "Sta4": "Awaiting transport connection opening to complete",
    "Sta5": "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
    "Sta6": "Association established and ready for data transfer",
    "Sta7": "Awaiting A-RELEASE-RP PDU",
    "Sta8": "Awaiting local A-RELEASE response primitive",
    "Sta9": "Release collision requestor side; awaiting A-RELEASE response",
    "Sta10": "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
    "Sta11": "Release collision requestor side; awaiting A-RELEASE-RP PDU",
    "Sta12": "Release collision acceptor side; awaiting A-RELEASE response primitive",
    "Sta13": "Awaiting transport connection close indication",
}

# Table 9-10 events.
EVENTS = {
    "Evt1": "A-ASSOCIATE request (local user)",
    "Evt2": "Transport connect confirmation (local transport service)",
    "Evt3": "A-ASSOCIATE-AC PDU received",
    "Evt4": "A-ASSOCIATE-RJ PDU received",
    "Evt5": "Transport connection indication",
    "Evt6": "A-ASSOCIATE-RQ PDU received",
    "Evt7": "A-ASSOCIATE response primitive (accept)",
    "Evt8": "A-ASSOCIATE response primitive (reject)",
    "Evt9": "P-DATA request primitive",
    "Evt10": "P-DATA-TF PDU received",
    "Evt11": "A-RELEASE request primitive",
    "Evt12": "A-RELEASE-RQ PDU received",
    "Evt13": "A-RELEASE-RP PDU received",
    "Evt14": "A-RELEASE response primitive",
    "Evt15": "A-ABORT request primitive",
    "Evt16": "A-ABORT PDU received",
    "Evt17": "Transport connection closed indication",
    "Evt18": "ARTIM timer expired",
    "Evt19": "Unrecognized or invalid PDU received",
}

# Tables 9-6 … 9-9: actions and the state each leads to ("Sta9|Sta10" for AR-8: requestor or
# acceptor side of a release collision).
ACTIONS = {
    "AE-1": ("Issue TRANSPORT CONNECT request primitive", "Sta4"),
    "AE-2": ("Send A-ASSOCIATE-RQ PDU", "Sta5"),
    "AE-3": ("Issue A-ASSOCIATE confirmation (accept) primitive", "Sta6"),
    "AE-4": ("Issue A-ASSOCIATE confirmation (reject) primitive, close transport", "Sta1"),
    "AE-5": ("Issue transport connection response primitive; start ARTIM", "Sta2"),
    "AE-6": ("Stop ARTIM; issue A-ASSOCIATE indication or send A-ASSOCIATE-RJ", "Sta3|Sta13"),
    "AE-7": ("Send A-ASSOCIATE-AC PDU", "Sta6"),
    "AE-8": ("Send A-ASSOCIATE-RJ PDU and start ARTIM", "Sta13"),
    "DT-1": ("Send P-DATA-TF PDU", "Sta6"),
    "DT-2": ("Send P-DATA indication primitive", "Sta6"),
    "AR-1": ("Send A-RELEASE-RQ PDU", "Sta7"),
    "AR-2": ("Issue A-RELEASE indication primitive", "Sta8"),
    "AR-3": ("Issue A-RELEASE confirmation primitive, close transport", "Sta1"),
    "AR-4": ("Issue A-RELEASE-RP PDU and start ARTIM", "Sta13"),
    "AR-5": ("Stop ARTIM", "Sta1"),
    "AR-6": ("Issue P-DATA indication", "Sta7"),
    "AR-7": ("Issue P-DATA-TF PDU", "Sta8"),
    "AR-8": ("Issue A-RELEASE indication (release collision)", "Sta9|Sta10"),
    "AR-9": ("Send A-RELEASE-RP PDU", "Sta11"),
    "AR-10": ("Issue A-RELEASE confirmation primitive", "Sta12"),
    "AA-1": ("Send A-ABORT PDU (service-user source), start or restart ARTIM", "Sta13"),
    "AA-2": ("Stop ARTIM if running, close transport", "Sta1"),
    "AA-3": ("Issue A-ABORT or A-P-ABORT indication, close transport", "Sta1"),
    "AA-4": ("Issue A-P-ABORT indication", "Sta1"),
    "AA-5": ("Stop ARTIM", "Sta1"),
    "AA-6": ("Ignore PDU", "Sta13"),
    "AA-7": ("Send A-ABORT PDU", "Sta13"),
    "AA-8": ("Send A-ABORT PDU (service-provider source), issue A-P-ABORT, start ARTIM",
             "Sta13"),
}

_RELEASE_STATES = ("Sta7", "Sta8", "Sta9", "Sta10", "Sta11", "Sta12")


def _row(**cells: str) -> dict[str, str]:
    return {state.replace("_", ""): action for state, action in cells.items()}


def _abort_row(sta2: str, sta13: str, **extra: str) -> dict[str, str]:
    """The common shape of PDU-received rows: AA-1 in Sta2, AA-8 in Sta3/5/6/release states."""
    row = {"Sta2": sta2, "Sta3": "AA-8", "Sta5": "AA-8", "Sta6": "AA-8", "Sta13": sta13}
    row.update({state: "AA-8" for state in _RELEASE_STATES})
    row.update(extra)
    return row


# Table 9-10: TRANSITIONS[event][state] -> action.
TRANSITIONS: dict[str, dict[str, str]] = {
    "Evt1": {"Sta1": "AE-1"},
    "Evt2": {"Sta4": "AE-2"},
    "Evt3": _abort_row("AA-1", "AA-6", Sta5="AE-3"),
    "Evt4": _abort_row("AA-1", "AA-6", Sta5="AE-4"),
    "Evt5": {"Sta1": "AE-5"},
    "Evt6": _abort_row("AE-6", "AA-7"),
    "Evt7": {"Sta3": "AE-7"},
    "Evt8": {"Sta3": "AE-8"},
    "Evt9": {"Sta6": "DT-1", "Sta8": "AR-7"},
    "Evt10": _abort_row("AA-1", "AA-6", Sta6="DT-2", Sta7="AR-6"),
    "Evt11": {"Sta6": "AR-1"},
    "Evt12": _abort_row("AA-1", "AA-6", Sta6="AR-2", Sta7="AR-8"),
    "Evt13": _abort_row("AA-1", "AA-6", Sta7="AR-3", Sta10="AR-10", Sta11="AR-3"),
    "Evt14": {"Sta8": "AR-4", "Sta9": "AR-9", "Sta12": "AR-4"},
    "Evt15": {"Sta3": "AA-1", "Sta4": "AA-2", "Sta5": "AA-1", "Sta6": "AA-1",
              **{state: "AA-1" for state in _RELEASE_STATES}},
    "Evt16": {"Sta2": "AA-2", "Sta3": "AA-3", "Sta5": "AA-3", "Sta6": "AA-3",
              **{state: "AA-3" for state in _RELEASE_STATES}, "Sta13": "AA-2"},
    "Evt17": {"Sta2": "AA-5", "Sta3": "AA-4", "Sta4": "AA-4", "Sta5": "AA-4", "Sta6": "AA-4",
              **{state: "AA-4" for state in _RELEASE_STATES}, "Sta13": "AR-5"},
    "Evt18": {"Sta2": "AA-2", "Sta13": "AA-2"},
    "Evt19": _abort_row("AA-1", "AA-7"),
}


class Role(Enum):
    REQUESTOR = "requestor"
    ACCEPTOR = "acceptor"


class ProtocolStateError(Exception):
    """A local primitive issued in a state where Table 9-10 does not allow it."""


class StateMachine:
    """Sans-I/O: ``step(event)`` returns the action to run and moves to the next state."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = "Sta1"
        self.history: list[tuple[str, str, str]] = []

    def action_for(self, event: str) -> str | None:
        return TRANSITIONS[event].get(self.state)

    def step(self, event: str, *, acceptable: bool = True) -> str:
        """Apply ``event``; PDU events with no table entry are treated as Evt19."""
        action = TRANSITIONS[event].get(self.state)
        if action is None:
            if event in ("Evt3", "Evt4", "Evt6", "Evt10", "Evt12", "Evt13", "Evt16"):
                return self.step("Evt19")
            raise ProtocolStateError(f"{EVENTS[event]} is not allowed in {self.state} "
                                     f"({STATES[self.state]})")
        self.history.append((self.state, event, action))
        self.state = self._next(action, acceptable)
        return action

    def _next(self, action: str, acceptable: bool) -> str:
        target = ACTIONS[action][1]
        if action == "AE-6":
            return "Sta3" if acceptable else "Sta13"
        if action == "AR-8":
            return "Sta9" if self.role is Role.REQUESTOR else "Sta10"
        return target
