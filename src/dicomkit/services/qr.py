"""PS3.4 Annex C: the Query/Retrieve Service Class rules shared by every SCP of it (Patient Root
and Study Root models, C-FIND, C-MOVE, C-GET); :mod:`dicomkit.archive.scp` binds them to the
archive."""

from __future__ import annotations

from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.json import from_json
from dicomkit.net.uids import QUERY_RETRIEVE_MODELS
from dicomkit.services.identifiers import response_charset

# Only the Patient Root and Study Root models (PS3.4 C.6.1, C.6.2): Modality Worklist FIND is
# not offered, so its presentation context is rejected "abstract syntax not supported" (PS3.8
# §9.3.3.2, result 3) and an SCU learns it at negotiation, not from an A900 per query.
MODEL_OF = {uid: model for model, ops in QUERY_RETRIEVE_MODELS.items() for uid in ops.values()}


def response_identifier(identifier: Dataset, tags: list[int], attrs: dict[str, Any],
                        level: str) -> Dataset:
    """PS3.4 C.4.1.1.3.2: the requested keys with their values, plus the level and the
    Specific Character Set the values need (:func:`response_charset`)."""
    wanted = {f"{tag:08X}": attrs[f"{tag:08X}"] for tag in tags if f"{tag:08X}" in attrs}
    charset = response_charset({**wanted, "00080005": attrs.get("00080005") or {}})
    if charset:  # first, so that the text values are encoded with it
        wanted = {"00080005": {"vr": "CS", "Value": charset}, **wanted}
    response = from_json(wanted) if wanted else Dataset()
    for tag in tags:
        if tag not in response:
            element = identifier[tag]
            response.set(tag, None if element.VR != "SQ" else [], element.VR)
    response.QueryRetrieveLevel = level
    return response
