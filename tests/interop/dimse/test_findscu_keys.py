"""``dicomkit serve`` queried by DCMTK's findscu: a Modality Worklist query of an empty
worklist (``findscu -W``, PS3.4 K.6.1; the worklist itself is tested in
test_worklist_dcmtk.py), and the C-FIND keys the archive answers itself
(Retrieve AE Title, Instance Availability, Timezone Offset From UTC) in findscu's responses."""

from __future__ import annotations

from pathlib import Path

from tests.support.datasets import StudySet
from tests.support.dcmtk import run_tool
from tests.support.servers import ServeFactory


def test_findscu_worklist_of_an_empty_worklist_succeeds(serve: ServeFactory, tmp_path: Path,
                                                        study_set: StudySet,
                                                        dcmtk_net: dict[str, str]) -> None:
    """The Modality Worklist FIND context is accepted; with no item scheduled the query ends
    with Success and no match (the archive's stored studies are not worklist items)."""
    server = serve(tmp_path / "data")
    run_tool("storescu", "-aec", server.aet, "127.0.0.1", server.port,
             *[str(i.path) for i in study_set.instances])
    result = run_tool("findscu", "-v", "-W", "-aec", server.aet, "-k", "PatientName",
                      "127.0.0.1", server.port, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Received Final Find Response (Success)" in output, output
    assert "Pending" not in output, output
    # Study Root FIND still works on the same server
    ok = run_tool("findscu", "-S", "-aec", server.aet, "-k", "QueryRetrieveLevel=STUDY",
                  "-k", "StudyInstanceUID", "127.0.0.1", server.port)
    assert ok.returncode == 0


def test_findscu_gets_retrieve_ae_title_and_instance_availability(
        serve: ServeFactory, tmp_path: Path, study_set: StudySet,
        dcmtk_net: dict[str, str]) -> None:
    server = serve(tmp_path / "data", aet="LOCPACS")
    run_tool("storescu", "-aec", server.aet, "127.0.0.1", server.port,
             *[str(i.path) for i in study_set.instances])
    out = tmp_path / "responses"
    out.mkdir()
    run_tool("findscu", "-S", "-aec", server.aet, "-X", "-od", out,
             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_set.synthetic_study}",
             "-k", "RetrieveAETitle", "-k", "InstanceAvailability",
             "-k", "TimezoneOffsetFromUTC", "127.0.0.1", server.port)
    import dicomkit

    [response] = [dicomkit.read(str(p)) for p in sorted(out.iterdir())]
    assert response.RetrieveAETitle == "LOCPACS"
    assert response.InstanceAvailability == "ONLINE"
    assert "TimezoneOffsetFromUTC" in response
