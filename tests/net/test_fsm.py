"""PS3.8 §9.2: the state machine table checked cell by cell against Table 9-10, and a release
collision played out between two real associations."""

from __future__ import annotations

import asyncio
import json

import pytest

from dicomkit.net.association import Association
from dicomkit.net.fsm import ACTIONS, TRANSITIONS, ProtocolStateError, Role, StateMachine
from dicomkit.net.stream import PDUStream, open_stream, start_server
from tests.support.paths import STANDARD

TABLES = STANDARD / "part08_table_9-10.json"  # PS3.8 Table 9-10 (see its README)


def _standard_cells() -> dict[tuple[str, str], str]:
    """Table 9-10 as {(event, state): "AA-8 Sta13"}; events in the table's order Evt1-Evt19."""
    table = json.loads(TABLES.read_text())["table_9-10"]
    cells = {}
    for number, row in enumerate(table["rows"], start=1):
        for state_number, cell in enumerate(row[1:14], start=1):
            if cell.strip():
                cells[(f"Evt{number}", f"Sta{state_number}")] = cell.strip()
    return cells


def test_transition_table_is_table_9_10_cell_for_cell():
    cells = _standard_cells()
    ours = {(event, state): action for event, row in TRANSITIONS.items()
            for state, action in row.items()}
    assert set(ours) == set(cells)
    for key, cell in cells.items():
        action, _, next_state = cell.partition(" ")
        assert ours[key] == action, key
        target = ACTIONS[action][1]
        if "or" in next_state:  # AE-6: "Sta3 or 13", AR-8: "Sta9 or 10"
            assert "|" in target, key
        else:
            assert target == next_state, key


def test_unexpected_pdu_during_data_transfer_aborts_as_provider():
    fsm = StateMachine(Role.ACCEPTOR)
    fsm.state = "Sta6"
    assert fsm.step("Evt3") == "AA-8"  # an A-ASSOCIATE-AC while established
    assert fsm.state == "Sta13"


def test_local_primitive_in_the_wrong_state_is_refused():
    fsm = StateMachine(Role.REQUESTOR)
    with pytest.raises(ProtocolStateError):
        fsm.step("Evt9")  # P-DATA request in Sta1


def test_release_collision_states_follow_ar8_to_ar10():
    requestor, acceptor = StateMachine(Role.REQUESTOR), StateMachine(Role.ACCEPTOR)
    requestor.state = acceptor.state = "Sta6"
    assert requestor.step("Evt11") == "AR-1" and acceptor.step("Evt11") == "AR-1"
    assert requestor.step("Evt12") == "AR-8" and requestor.state == "Sta9"
    assert acceptor.step("Evt12") == "AR-8" and acceptor.state == "Sta10"
    assert requestor.step("Evt14") == "AR-9" and requestor.state == "Sta11"
    assert acceptor.step("Evt13") == "AR-10" and acceptor.state == "Sta12"
    assert acceptor.step("Evt14") == "AR-4" and acceptor.state == "Sta13"
    assert requestor.step("Evt13") == "AR-3" and requestor.state == "Sta1"


async def _pair() -> tuple[Association, Association, asyncio.AbstractServer]:
    accepted: asyncio.Future[Association] = asyncio.get_running_loop().create_future()

    def on_connect(stream: PDUStream) -> None:
        accepted.set_result(Association(stream, Role.ACCEPTOR))

    server = await start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    requestor = Association(await open_stream("127.0.0.1", port), Role.REQUESTOR)
    acceptor = await accepted
    for association in (requestor, acceptor):
        association.fsm.state = "Sta6"
        association.start()
    return requestor, acceptor, server


def test_release_collision_between_two_associations_ends_cleanly():
    async def scenario() -> tuple[list[str], list[str]]:
        requestor, acceptor, server = await _pair()
        await asyncio.wait_for(asyncio.gather(requestor.release(), acceptor.release()), 10)
        await asyncio.wait_for(asyncio.gather(requestor.wait_closed(), acceptor.wait_closed()),
                               10)
        server.close()
        return ([a for _s, _e, a in requestor.fsm.history],
                [a for _s, _e, a in acceptor.fsm.history])

    requestor_actions, acceptor_actions = asyncio.run(scenario())
    # Both sent A-RELEASE-RQ at once: the requestor answers first (AR-9), the acceptor waits for
    # that reply (AR-10), then replies (AR-4) and sees the transport close (AR-5).
    assert requestor_actions == ["AR-1", "AR-8", "AR-9", "AR-3"]
    assert acceptor_actions == ["AR-1", "AR-8", "AR-10", "AR-4", "AR-5"]
