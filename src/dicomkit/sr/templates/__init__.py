"""SR templates (PS3.16 Annex A) as Python objects, built on the content tree of
:mod:`dicomkit.sr`: create a document from objects and parse a document back into them.

- TID 1500 Measurement Report (:class:`MeasurementReport`) with TID 1001 observation context
  (:class:`PersonObserver`, :class:`DeviceObserver`, :class:`SubjectContext`), TID 1204
  language, TID 1600 image library (:class:`ImageLibrary`, :class:`ImageLibraryEntry`) and the
  measurement groups TID 1501 (:class:`MeasurementsAndQualitativeEvaluations`), TID 1410
  (:class:`PlanarROIMeasurements`) and TID 1411 (:class:`VolumetricROIMeasurements`), each
  with TID 300 measurements (:class:`Measurement`), qualitative evaluations and TID 4019
  algorithm identification.
- TID 2010 Key Object Selection (:class:`KeyObjectSelection`, :class:`KeyObject`).

```python
from dicomkit.sr.templates import *
report = MeasurementReport(
    observers=[DeviceObserver(uid=device_uid, name="liver-ai")],
    procedure_reported=[Code("363679005", "SCT", "Imaging procedure")],
    image_library=ImageLibrary.from_datasets(ct_slices),
    imaging_measurements=[VolumetricROIMeasurements(
        "liver", finding_type=Code("10200004", "SCT", "Liver"),
        referenced_segment=SegmentReference(seg.SOPInstanceUID, 1, source_series=ct_series),
        measurements=[Measurement(Code("118565006", "SCT", "Volume"), 1520.5,
                                  Code("ml", "UCUM", "milliliter"))])])
ds = report.to_dataset(like=ct_slices[0], evidence=ct_slices + [seg])
again = read_measurement_report(ds)
```

Value sets of the templates' rows are checked (:mod:`.valuesets`): a code outside a DCID group
raises :class:`TemplateError` naming the template row, outside a BCID group it warns
(:class:`TemplateWarning`).
"""

from __future__ import annotations

from dicomkit.iod.codes import Code
from dicomkit.sr.templates.context import DeviceObserver, Language, PersonObserver, SubjectContext
from dicomkit.sr.templates.groups import (
    MeasurementGroup,
    MeasurementsAndQualitativeEvaluations,
    PlanarROIMeasurements,
    VolumetricROIMeasurements,
)
from dicomkit.sr.templates.kos import KeyObject, KeyObjectSelection, read_key_object_selection
from dicomkit.sr.templates.library import ImageLibrary, ImageLibraryEntry
from dicomkit.sr.templates.measurements import (
    AlgorithmIdentification,
    FindingSite,
    ImageRegion,
    ImageRegion3D,
    Measurement,
    QualitativeEvaluation,
    SegmentReference,
)
from dicomkit.sr.templates.report import MeasurementReport, read_measurement_report
from dicomkit.sr.templates.valuesets import VALUE_SETS, TemplateError, TemplateWarning

__all__ = [
    "VALUE_SETS", "AlgorithmIdentification", "Code", "DeviceObserver", "FindingSite",
    "ImageLibrary", "ImageLibraryEntry", "ImageRegion", "ImageRegion3D", "KeyObject",
    "KeyObjectSelection", "Language", "Measurement", "MeasurementGroup", "MeasurementReport",
    "MeasurementsAndQualitativeEvaluations", "PersonObserver", "PlanarROIMeasurements",
    "QualitativeEvaluation", "SegmentReference", "SubjectContext", "TemplateError",
    "TemplateWarning", "VolumetricROIMeasurements", "read_key_object_selection",
    "read_measurement_report",
]
