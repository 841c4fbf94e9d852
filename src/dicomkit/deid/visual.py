"""Clean Recognizable Visual Features (PS3.15 E.3.2): what dicomkit can honestly promise.

E.3.2: "if there is sufficient visual information within the Pixel Data ... to allow an
individual to be recognized from the instances themselves or a reconstruction of a set of
instances, then sufficient removal or distortion of the Pixel Data shall be applied to prevent
recognition", after which Recognizable Visual Features (0028,0302) is ``NO``. Its notes: the
option "is unnecessary for the vast majority of anatomic sites and modalities"; full-face
photographs, and cross-sectional imaging of the head and neck (a surface rendering of the
volume) are the cases where recognition is possible; dental images are one where cleaning
destroys the use.

dicomkit has no defacing algorithm, so it removes nothing from pixel data. It decides, from
what the data set says, whether the pixels *can* hold a recognizable face:

- Recognizable Visual Features ``NO``: already clean (a human or another tool said so): passed.
- Recognizable Visual Features ``YES``: refused (nothing here can clean it).
- otherwise passed only when the image cannot show the head: Body Part Examined (0018,0015)
  one of :data:`AWAY_FROM_THE_HEAD` (PS3.16 Annex L defined terms of regions that exclude the
  head and face), and a Modality that is not a photograph of the body surface, an ophthalmic
  or a dental image (:data:`PHOTOGRAPHIC`); or Modality ``SM`` (a slide) whatever the body
  part. Everything else — head, neck, whole body, an unknown or absent body part — is refused
  as "not supported", to be reviewed by a person (who may then set Recognizable Visual
  Features to NO, E.3.2: "may require intervention of or approval by a human operator").

A passed image gets Recognizable Visual Features ``NO`` (E.3.2) and the report says why.
"""

from __future__ import annotations

from dicomkit.core.dataset import Dataset

AWAY_FROM_THE_HEAD = frozenset({
    "ABDOMEN", "ABDOMENPELVIS", "ANKLE", "ARM", "BREAST", "CHEST", "CHESTABDOMEN",
    "CHESTABDPELVIS", "CLAVICLE", "COCCYX", "ELBOW", "EXTREMITY", "FINGER", "FOOT",
    "FOREARM", "HAND", "HEART", "HEEL", "HIP", "KIDNEY", "KNEE", "LEG", "LIVER", "LSPINE",
    "LOWERLIMB", "PELVIS", "PROSTATE", "RIB", "SACRUM", "SCAPULA", "SHOULDER", "SSPINE",
    "STERNUM", "THIGH", "TOE", "TSPINE", "UPRARM", "UPPERLIMB", "WRIST", "BLADDER", "COLON",
    "STOMACH", "PANCREAS", "SPLEEN", "UTERUS", "OVARY", "TESTIS", "FEMUR", "TIBIA",
    "FIBULA", "HUMERUS", "RADIUS", "ULNA", "CALF", "GALLBLADDER", "LUNG", "AORTA",
})
"""Body Part Examined values (PS3.16 Annex L) of regions that do not include the head or
face. A policy list kept here, not a table of the standard: the standard does not say which
regions can show a face."""

PHOTOGRAPHIC = frozenset({"XC", "GM", "OP", "OPT", "OPM", "IO", "PX", "DOC", "OT"})
"""Modalities refused whatever the body part: external camera and general microscopy
photographs, ophthalmic photographs and tomography (a retina identifies), dental, documents
and "other" (unknown content)."""


def unsupported_reason(ds: Dataset) -> str | None:
    """Why dicomkit cannot promise ``ds``'s pixels show no recognizable features (it must
    then fail), or None when it can (see the module docstring)."""
    features = str(ds.get("RecognizableVisualFeatures") or "").strip().upper()
    if features == "NO":
        return None
    where = "clean-visual-features is not supported for this image (dicomkit does not deface)"
    if features == "YES":
        return f"{where}: Recognizable Visual Features (0028,0302) is YES"
    modality = str(ds.get("Modality") or "").strip().upper()
    if modality == "SM":
        return None
    body = str(ds.get("BodyPartExamined") or "").strip().upper()
    if modality in PHOTOGRAPHIC:
        return f"{where}: Modality {modality} may show the patient's face or another " \
            "recognizable feature"
    if not body:
        return f"{where}: no Body Part Examined (0018,0015), so the image may show the head; " \
            "review it and set Recognizable Visual Features to NO if it does not"
    if body not in AWAY_FROM_THE_HEAD:
        return f"{where}: Body Part Examined {body} may include the head or face"
    return None


def passed_because(ds: Dataset) -> str:
    """The report note of an image :func:`unsupported_reason` passed."""
    features = str(ds.get("RecognizableVisualFeatures") or "").strip().upper()
    if features == "NO":
        return "clean-visual-features: Recognizable Visual Features was already NO"
    modality = str(ds.get("Modality") or "").strip().upper()
    if modality == "SM":
        return "clean-visual-features: a slide (Modality SM) shows no face"
    return (f"clean-visual-features: Body Part Examined "
            f"{str(ds.get('BodyPartExamined')).strip().upper()} does not include the head")
