"""UIDs the network services use, looked up by their PS3.6 keywords (no hand-typed UIDs)."""

from __future__ import annotations

from dicomkit.core.uid import uid_for_keyword


def _uid(keyword: str) -> str:
    uid = uid_for_keyword(keyword)
    if uid is None:
        raise KeyError(f"{keyword} is not in the UID registry")
    return uid


APPLICATION_CONTEXT = _uid("DICOMApplicationContext")
VERIFICATION = _uid("Verification")
IMPLICIT_VR_LE = _uid("ImplicitVRLittleEndian")
EXPLICIT_VR_LE = _uid("ExplicitVRLittleEndian")
DEFLATED_EXPLICIT_VR_LE = _uid("DeflatedExplicitVRLittleEndian")
EXPLICIT_VR_BE = _uid("ExplicitVRBigEndian")
UNCOMPRESSED_TS = [EXPLICIT_VR_LE, IMPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE]

MODELS: dict[str, dict[str, str]] = {
    "patient": {
        "find": _uid("PatientRootQueryRetrieveInformationModelFind"),
        "move": _uid("PatientRootQueryRetrieveInformationModelMove"),
        "get": _uid("PatientRootQueryRetrieveInformationModelGet"),
    },
    "study": {
        "find": _uid("StudyRootQueryRetrieveInformationModelFind"),
        "move": _uid("StudyRootQueryRetrieveInformationModelMove"),
        "get": _uid("StudyRootQueryRetrieveInformationModelGet"),
    },
    "worklist": {"find": _uid("ModalityWorklistInformationModelFind")},
}
"""Every information model dicomkit's SCUs can query (``dicomkit find --worklist`` too)."""

QUERY_RETRIEVE_MODELS: dict[str, dict[str, str]] = {
    model: MODELS[model] for model in ("patient", "study")}
"""The Query/Retrieve information models of PS3.4 Annex C (Patient Root, Study Root) that the
archive implements as an SCP. Modality Worklist (Annex K) is not one of them: the archive
does not offer it, so its presentation context is rejected at negotiation."""
