"""Non-image content a VNA keeps, wrapped in DICOM and unwrapped byte for byte.

:func:`wrap` makes a DICOM object of a document, choosing the IOD by the document's
**content** (:func:`kind_of`: magic bytes and structure, never a file name):

========  ==============================================  ==================================
kind      IOD (PS3.3)                                     stored as
========  ==============================================  ==================================
``pdf``   Encapsulated PDF (A.45.1)                       Encapsulated Document (0042,0011)
``cda``   Encapsulated CDA (A.45.2)                       Encapsulated Document, HL7 Instance
                                                          Identifier, Document Title
``stl``   Encapsulated STL (A.85.1), ASCII or binary      Encapsulated Document, Frame of
                                                          Reference, Manufacturing 3D Model
``obj``   Encapsulated OBJ (A.85.2)                       as STL
``mtl``   Encapsulated MTL (A.85.3)                       as STL, no Frame of Reference
``jpeg``  VL Photographic Image (A.32.4)                  :mod:`.visible`
``png``   VL Photographic Image (A.32.4)                  :mod:`.visible`
``mp4``   Video Photographic / Endoscopic (A.32.7/A.32.4) :mod:`.visible`
========  ==============================================  ==================================

Documents: the value of Encapsulated Document is the document padded to even length with one
trailing NUL, and Encapsulated Document Length (0042,0015) is the document's real length
(PS3.3 C.24.2.1); :func:`unwrap` returns exactly that many bytes.

:func:`unwrap` gives back ``(bytes, media type)``; the media types are those of PS3.18
Table 8.7.3-5 (``application/pdf``, ``text/xml``, ``model/stl``, ``model/obj``,
``model/mtl``) and, for images and video, :func:`dicomkit.iod.visible.unwrap`'s.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ElementTree
from typing import NamedTuple

__all__ = ["DOCUMENTS", "KINDS", "WrapError", "kind_of", "unwrap", "wrap"]

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.iod import visible
from dicomkit.iod.codes import Code
from dicomkit.iod.entity import WrapError, allow_text, new_instance, software_version
from dicomkit.iod.modules import require


class DocumentKind(NamedTuple):
    """A kind of document: its SOP Class keyword (PS3.6), MIME type and modality."""

    sop_class: str
    media_type: str
    modality: str
    label: str


DOCUMENTS = {
    "pdf": DocumentKind("EncapsulatedPDFStorage", "application/pdf", "DOC", "PDF"),
    "cda": DocumentKind("EncapsulatedCDAStorage", "text/xml", "DOC", "HL7 CDA"),
    "stl": DocumentKind("EncapsulatedSTLStorage", "model/stl", "M3D", "STL"),
    "obj": DocumentKind("EncapsulatedOBJStorage", "model/obj", "M3D", "OBJ"),
    "mtl": DocumentKind("EncapsulatedMTLStorage", "model/mtl", "M3D", "MTL"),
}
VISIBLE = ("jpeg", "png", "mp4")
KINDS = (*DOCUMENTS, *VISIBLE)
UNCHECKED = ("obj", "mtl")
"""The IOD tables (dicom3tools 2024) have no Encapsulated OBJ or MTL IOD yet, so these two are
not checked by :func:`dicomkit.iod.modules.require` before they are handed out."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CDA_NAMESPACE = "urn:hl7-org:v3"
MAX_DOCUMENT = 0xFFFFFFFE
"""Encapsulated Document is OB with a 32-bit length: at most 2^32 - 2 bytes once padded."""
TEXT_SCAN = 1 << 20
"""How much of a text document is looked at to tell OBJ from MTL from ASCII STL."""
MILLIMETRE = Code("mm", "UCUM", "mm")
"""Manufacturing 3D Model Measurement Units (CID 7063): STL and OBJ carry no unit; mm is the
usual one for printed anatomy and is what :func:`wrap` records unless told otherwise."""

# -- what is it? ------------------------------------------------------------------------------


def kind_of(data: bytes) -> str:
    """The kind of ``data`` (one of :data:`KINDS`) from its content; :class:`WrapError` with the
    reason when it is none of them."""
    if not data:
        raise WrapError("the document is empty (0 bytes)")
    if data[128:132] == b"DICM":
        raise WrapError("the document is already a DICOM file (DICM at offset 128)")
    if b"%PDF-" in data[:1024]:  # ISO 32000-1 §7.5.2: the header, within the first 1 KiB
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data[4:8] == b"ftyp":
        return "mp4"
    if is_binary_stl(data):
        return "stl"
    text = as_text(data[:TEXT_SCAN])
    if text is None:
        raise WrapError(f"unknown content (first bytes {data[:8].hex(' ')}): not PDF, HL7 CDA, "
                        "STL, OBJ, MTL, JPEG, PNG or MP4")
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("<"):
        cda_header(data)  # raises unless it is a CDA document
        return "cda"
    if head[:5].lower() == "solid" and "facet" in text:
        return "stl"
    words = {line.split(None, 1)[0] for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")}
    if "newmtl" in words:
        return "mtl"
    if words & {"v", "f", "vt", "vn", "o", "g", "usemtl", "mtllib"} and "v" in words:
        return "obj"
    raise WrapError("unknown text content: not an HL7 CDA document (XML), an ASCII STL "
                    "(solid ... facet), an OBJ (v/f lines) or an MTL (newmtl) file")


def is_binary_stl(data: bytes) -> bool:
    """A binary STL: an 80-byte header, a triangle count, and 50 bytes for each triangle."""
    if len(data) < 84:
        return False
    count = struct.unpack_from("<I", data, 80)[0]
    return len(data) == 84 + 50 * count


def as_text(data: bytes) -> str | None:
    """``data`` as text when it is text (UTF-8, no NUL), else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a character cut by the scan limit
            return data[: exc.start].decode("utf-8")
        return None


class CDAHeader(NamedTuple):
    instance_identifier: str  # root^extension (PS3.3 C.24.2.2)
    title: str


def cda_header(data: bytes) -> CDAHeader:
    """The id and title of an HL7 CDA document (the root ``ClinicalDocument`` element of the
    ``urn:hl7-org:v3`` namespace); :class:`WrapError` when the XML is not one or is broken."""
    ns = "{" + CDA_NAMESPACE + "}"
    identifier = title = ""
    depth = 0
    try:
        for event, element in ElementTree.iterparse(io.BytesIO(data), events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1 and element.tag != ns + "ClinicalDocument":
                    raise WrapError(f"XML whose root element is {element.tag!r}, not an HL7 CDA "
                                    f"document ({{{CDA_NAMESPACE}}}ClinicalDocument)")
                continue
            depth -= 1
            if depth == 1 and element.tag == ns + "id" and not identifier:
                root = element.get("root", "")
                extension = element.get("extension")
                identifier = root + (f"^{extension}" if extension else "")
            elif depth == 1 and element.tag == ns + "title" and not title:
                title = "".join(element.itertext()).strip()
            if identifier and title:
                break
    except ElementTree.ParseError as exc:
        raise WrapError(f"the XML document is not well formed: {exc}") from exc
    if not identifier:
        raise WrapError("the CDA document has no id (ClinicalDocument/id with a root): "
                        "HL7 Instance Identifier (0040,E001) is required")
    return CDAHeader(identifier, title)


# -- wrap -------------------------------------------------------------------------------------


def wrap(data: bytes, *, like: Dataset | None = None, title: str | None = None,
         series_number: int | None = None, endoscopic: bool = False,
         units: Code = MILLIMETRE, region: Code | None = None,
         **patient_study: str | None) -> Dataset:
    """A DICOM object holding ``data``, the IOD chosen by :func:`kind_of`.

    Patient and Study come from ``like`` (an instance of the study: its Patient and Study
    modules are copied) and from ``patient_study`` (``patient_id``, ``patient_name``,
    ``study_uid``, ``accession`` ... see :data:`dicomkit.iod.entity.OPTIONS`); the object is
    the first of a new series. ``title`` is the Document Title (CDA: the document's own title
    by default); ``endoscopic`` makes an MP4 a Video Endoscopic Image instead of a Video
    Photographic one; ``units`` the 3D models' Measurement Units Code Sequence; ``region``
    the Anatomic Region of a photo or video (default: ``like``'s, else the whole body). Images and
    video come with their transfer syntax set on the returned data set
    (``ds.transfer_syntax``), which :func:`dicomkit.write` uses.

    :class:`WrapError` says why a document cannot be wrapped; an object that would break its
    IOD is refused with :class:`dicomkit.iod.modules.IODError` (a bug, not bad input)."""
    kind = kind_of(data)
    if kind in VISIBLE:
        ds = visible.wrap(data, kind, like=like, series_number=series_number,
                          endoscopic=endoscopic, title=title, region=region, **patient_study)
    else:
        ds = document(data, kind, like, title, series_number, units, patient_study)
    if kind not in UNCHECKED:
        require(ds)  # the writer refuses an object that breaks its IOD (iod.modules)
    return ds


def document(data: bytes, kind: str, like: Dataset | None, title: str | None,
             series_number: int | None, units: Code,
             patient_study: dict[str, str | None]) -> Dataset:
    """An Encapsulated PDF, CDA, STL, OBJ or MTL object holding ``data`` (see :func:`wrap`)."""
    if len(data) + (len(data) & 1) > MAX_DOCUMENT:
        raise WrapError(f"the document is {len(data)} bytes, more than Encapsulated Document "
                        f"can hold ({MAX_DOCUMENT})")
    spec = DOCUMENTS[kind]
    ds = new_instance(spec.sop_class, spec.modality, like=like, series_number=series_number,
                      **patient_study)
    if kind in ("pdf", "cda"):
        ds.ConversionType = "WSD"  # SC Equipment (C.8.6.1): a workstation made it
    ds.InstanceNumber = 1
    ds.AcquisitionDateTime = None
    ds.BurnedInAnnotation = "YES"  # a document names its patient in its own text
    ds.ConceptNameCodeSequence = []
    if kind == "cda":
        header = cda_header(data)
        ds.HL7InstanceIdentifier = header.instance_identifier
        title = header.title if title is None else title
    allow_text(ds, title or "")
    ds.DocumentTitle = title or None
    if kind in ("stl", "obj", "mtl"):
        model_attributes(ds, like, kind, units)
    ds.MIMETypeOfEncapsulatedDocument = spec.media_type
    ds.set("EncapsulatedDocument", data + b"\0" * (len(data) & 1), "OB")
    ds.EncapsulatedDocumentLength = len(data)
    return ds


def model_attributes(ds: Dataset, like: Dataset | None, kind: str, units: Code) -> None:
    """Frame of Reference (C.7.4.1; not for MTL), Enhanced General Equipment (C.7.5.2) and
    Manufacturing 3D Model (C.41.1) of the 3D model IODs (A.85). The Frame of Reference is
    ``like``'s when it has one (a model segmented from a series is in its patient
    coordinates), else a new one."""
    if kind != "mtl":
        frame = like.get("FrameOfReferenceUID") if like is not None else None
        ds.FrameOfReferenceUID = str(frame or generate_uid())
        ds.PositionReferenceIndicator = None
    ds.ManufacturerModelName = "dicomkit wrap"
    ds.DeviceSerialNumber = "dicomkit"
    ds.SoftwareVersions = software_version()
    ds.MeasurementUnitsCodeSequence = [units.to_dataset()]


# -- unwrap -----------------------------------------------------------------------------------


def unwrap(ds: Dataset) -> tuple[bytes, str]:
    """The document an object holds and its media type: an encapsulated document exactly as
    wrapped (Encapsulated Document cut to Encapsulated Document Length), an image or video as
    :func:`dicomkit.iod.visible.unwrap` says. :class:`WrapError` when there is none."""
    if "EncapsulatedDocument" in ds:
        value = bytes(ds.EncapsulatedDocument or b"")
        media = str(ds.get("MIMETypeOfEncapsulatedDocument") or "application/octet-stream")
        length = ds.get("EncapsulatedDocumentLength")
        if length is not None:
            if int(length) > len(value):
                raise WrapError(f"Encapsulated Document Length (0042,0015) is {int(length)}, "
                                f"longer than the {len(value)}-byte Encapsulated Document")
            return value[: int(length)], media
        return strip_padding(value, media), media
    if "PixelData" in ds:
        return visible.unwrap(ds)
    sop = str(ds.get("SOPClassUID") or "no SOP Class UID")
    raise WrapError(f"the object ({sop}) holds neither an Encapsulated Document (0042,0011) "
                    "nor Pixel Data (7FE0,0010)")


def strip_padding(value: bytes, media_type: str) -> bytes:
    """Without Encapsulated Document Length (objects older than 2017), the one trailing NUL
    that made the value even is told from the document by the document's own end: a PDF ends
    with ``%%EOF`` and an end-of-line, XML and text files with text, never a NUL."""
    if value.endswith(b"\0") and media_type != "model/stl" or (
            media_type == "model/stl" and not is_binary_stl(value) and value.endswith(b"\0")):
        return value[:-1]
    return value


def sop_class_kind(sop_class_uid: str) -> str | None:
    """The document kind of an Encapsulated Document SOP Class UID, else None."""
    for kind, spec in DOCUMENTS.items():
        if registered(spec.sop_class) == sop_class_uid:
            return kind
    return None
