"""UIDs the network services use, looked up by their PS3.6 keywords (no hand-typed UIDs)."""

from __future__ import annotations

from dicomkit.core.uid import registered

APPLICATION_CONTEXT = registered("DICOMApplicationContext")
VERIFICATION = registered("Verification")
IMPLICIT_VR_LE = registered("ImplicitVRLittleEndian")
EXPLICIT_VR_LE = registered("ExplicitVRLittleEndian")
DEFLATED_EXPLICIT_VR_LE = registered("DeflatedExplicitVRLittleEndian")
EXPLICIT_VR_BE = registered("ExplicitVRBigEndian")
UNCOMPRESSED_TS = [EXPLICIT_VR_LE, IMPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE]

MODELS: dict[str, dict[str, str]] = {
    "patient": {
        "find": registered("PatientRootQueryRetrieveInformationModelFind"),
        "move": registered("PatientRootQueryRetrieveInformationModelMove"),
        "get": registered("PatientRootQueryRetrieveInformationModelGet"),
    },
    "study": {
        "find": registered("StudyRootQueryRetrieveInformationModelFind"),
        "move": registered("StudyRootQueryRetrieveInformationModelMove"),
        "get": registered("StudyRootQueryRetrieveInformationModelGet"),
    },
    "worklist": {"find": registered("ModalityWorklistInformationModelFind")},
}
"""Every information model dicomkit's SCUs can query (``dicomkit find --worklist`` too)."""

QUERY_RETRIEVE_MODELS: dict[str, dict[str, str]] = {
    model: MODELS[model] for model in ("patient", "study")}
"""The Query/Retrieve information models of PS3.4 Annex C (Patient Root, Study Root) that the
archive implements as an SCP. Modality Worklist (Annex K) is not one of them: it is its own
service class (``dicomkit.services.worklist``), which the archive offers too."""
