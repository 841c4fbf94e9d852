"""The Instance Availability Notification data set (PS3.4 Table R.3.2-1, PS3.3 C.4.23)."""

from __future__ import annotations

import pytest

from dicomkit.core.uid import uid_info
from dicomkit.services.ian import (
    AVAILABILITY,
    INSTANCE_AVAILABILITY_NOTIFICATION,
    AvailableInstance,
    notification,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_sop_class_is_the_registry_s() -> None:
    info = uid_info(INSTANCE_AVAILABILITY_NOTIFICATION)
    assert info is not None and info.name == "Instance Availability Notification SOP Class"


def test_instances_grouped_by_series_in_order() -> None:
    ds = notification("1.2.3", [AvailableInstance("1.2.3.1", CT, "1.2.3.1.1"),
                                AvailableInstance("1.2.3.2", CT, "1.2.3.2.1"),
                                AvailableInstance("1.2.3.1", CT, "1.2.3.1.2")], "PACS")
    assert [e.keyword for e in ds] == ["ReferencedPerformedProcedureStepSequence",
                                       "ReferencedSeriesSequence", "StudyInstanceUID"]
    assert [(s.SeriesInstanceUID, [i.ReferencedSOPInstanceUID for i in s.ReferencedSOPSequence])
            for s in ds.ReferencedSeriesSequence] == [
        ("1.2.3.1", ["1.2.3.1.1", "1.2.3.1.2"]), ("1.2.3.2", ["1.2.3.2.1"])]
    item = ds.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert {e.keyword: e.value for e in item} == {
        "InstanceAvailability": "ONLINE", "RetrieveAETitle": "PACS",
        "ReferencedSOPClassUID": CT, "ReferencedSOPInstanceUID": "1.2.3.1.1"}


def test_availability_values_of_c_4_23_1_1() -> None:
    assert AVAILABILITY == ("ONLINE", "NEARLINE", "OFFLINE", "UNAVAILABLE")
    with pytest.raises(ValueError, match="Instance Availability 'SOMEWHERE'"):
        notification("1.2.3", [AvailableInstance("1", CT, "2")], "PACS", availability="SOMEWHERE")


def test_a_study_without_instances_is_refused() -> None:
    with pytest.raises(ValueError, match="no instance to announce"):
        notification("1.2.3", [], "PACS")
