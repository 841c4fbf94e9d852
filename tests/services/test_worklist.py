"""The Modality Worklist SCP rules (services/worklist.py, PS3.4 K.6.1) on an in-memory
:class:`WorklistData`: response identifiers, per-AE permissions, A900 and C000."""

from __future__ import annotations

import asyncio
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.net.client import connect
from dicomkit.net.server import Server
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS
from dicomkit.services.access import AccessPolicy
from dicomkit.services.worklist import (
    WorklistIdentifierError,
    WorklistSCP,
    response_identifier,
)

STEP = {"00080060": {"vr": "CS", "Value": ["CT"]},
        "00400001": {"vr": "AE", "Value": ["CT1"]},
        "00400007": {"vr": "LO", "Value": ["Chest"]}}
ITEM = {"00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Hans"}]},
        "00100020": {"vr": "LO", "Value": ["P1"]},
        "00081110": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.3"]},
                                             "00081155": {"vr": "UI", "Value": ["1.2.3.4"]}}]},
        "00400100": {"vr": "SQ", "Value": [STEP]}}


def identifier(**keys: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        ds.set(keyword, value)
    return ds


def test_every_requested_key_is_returned_zero_length_when_absent() -> None:
    step = identifier(Modality=None, ScheduledProcedureStepLocation=None)
    answer = response_identifier(identifier(PatientName=None, PatientWeight=None,
                                            ScheduledProcedureStepSequence=[step]), ITEM)
    assert str(answer.PatientName) == "Müller^Hans"
    assert "PatientWeight" in answer and answer.PatientWeight is None
    assert "PatientID" not in answer  # not requested
    [answered] = answer.ScheduledProcedureStepSequence
    assert answered.Modality == "CT" and "ScheduledProcedureStepLocation" in answered
    assert "ScheduledStationAETitle" not in answered


def test_a_sequence_key_without_keys_returns_the_stored_sequence_whole() -> None:
    answer = response_identifier(identifier(ReferencedStudySequence=[],
                                            ScheduledProcedureStepSequence=[Dataset()],
                                            ReferencedPatientSequence=[]), ITEM)
    assert answer.ReferencedStudySequence[0].ReferencedSOPInstanceUID == "1.2.3.4"
    assert answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription == \
        "Chest"
    assert len(answer.ReferencedPatientSequence) == 0


def test_the_items_character_set_is_kept_when_it_encodes_the_values() -> None:
    answer = response_identifier(identifier(PatientName=None), ITEM)
    assert answer.SpecificCharacterSet == "ISO_IR 100"
    mixed = {**ITEM, "00100010": {"vr": "PN", "Value": [{"Alphabetic": "山田^太郎"}]}}
    assert response_identifier(identifier(PatientName=None), mixed).SpecificCharacterSet \
        == "ISO_IR 192"


class Rows:
    def __init__(self, rows: list[dict[str, Any]], fail: BaseException | None = None) -> None:
        self.rows, self.fail = rows, fail

    def take(self, count: int) -> list[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        taken, self.rows = self.rows[:count], self.rows[count:]
        return taken

    def close(self) -> None:
        pass


class Data:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail

    def matches(self, identifier: Dataset) -> Rows:
        if "PatientSex" in identifier:
            raise WorklistIdentifierError("no such model")
        return Rows([ITEM, ITEM], self.fail)


def find(scp: WorklistSCP, keys: dict[str, Any], calling: str = "MODALITY"
         ) -> tuple[int, list[Dataset]]:
    model = MODELS["worklist"]["find"]

    async def go() -> tuple[int, list[Dataset]]:
        server = Server(handler=scp, ae_title="WL", port=0)
        await server.start()
        try:
            async with connect("127.0.0.1", server.port, calling_aet=calling, called_aet="WL",
                               contexts=[(model, UNCOMPRESSED_TS[:2])]) as client:
                found, final = [], -1
                async for status, match in client.find(identifier(**keys), "worklist"):
                    if status == 0xFF00 and match is not None:
                        found.append(match)
                    else:
                        final = status
                return final, found
        finally:
            await server.stop()

    return asyncio.run(go())


def test_a_pending_response_per_match_then_success() -> None:
    final, found = find(WorklistSCP(Data()), {"PatientName": None})
    assert final == 0x0000 and len(found) == 2


def test_an_ae_without_the_query_permission_is_refused_0124() -> None:
    policy = AccessPolicy.from_config({"MODALITY": {"permissions": ["store"]}})
    final, found = find(WorklistSCP(Data(), access=policy), {"PatientName": None})
    assert (final, found) == (0x0124, [])
    assert find(WorklistSCP(Data(), access=policy), {"PatientName": None},
                calling="OTHER")[0] == 0x0000


def test_an_identifier_the_model_cannot_answer_is_a900() -> None:
    assert find(WorklistSCP(Data()), {"PatientSex": None})[0] == 0xA900


def test_a_failure_of_the_data_is_c000() -> None:
    assert find(WorklistSCP(Data(RuntimeError("database gone"))),
                {"PatientName": None})[0] == 0xC000
