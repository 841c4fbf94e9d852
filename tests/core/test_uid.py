"""UID registry (PS3.6 Annex A), UID syntax (PS3.5 §9.1) and generation."""

from __future__ import annotations

import pytest

from dicomkit.core import uid as u
from dicomkit.core.uid import UID, UIDInfo, generate_uid, uid_for_keyword, uid_info


def test_implicit_vr_little_endian_info() -> None:
    info = uid_info("1.2.840.10008.1.2")
    assert info == UIDInfo("1.2.840.10008.1.2", "Implicit VR Little Endian",
                           "ImplicitVRLittleEndian", "Transfer Syntax",
                           "Default Transfer Syntax for DICOM", False)


def test_uid_class_properties() -> None:
    ts = UID("1.2.840.10008.1.2")
    assert ts.name == "Implicit VR Little Endian"
    assert ts.keyword == "ImplicitVRLittleEndian"
    assert ts.is_transfer_syntax and not ts.is_retired and ts.is_valid
    ct = UID("1.2.840.10008.5.1.4.1.1.2")
    assert (ct.keyword, ct.type, ct.is_transfer_syntax) == ("CTImageStorage", "SOP Class", False)


def test_keyword_lookup() -> None:
    assert uid_for_keyword("CTImageStorage") == "1.2.840.10008.5.1.4.1.1.2"
    assert uid_for_keyword("JPEGBaseline8Bit") == "1.2.840.10008.1.2.4.50"
    assert uid_for_keyword("NoSuchKeyword") is None


def test_retired() -> None:
    assert UID("1.2.840.10008.1.2.2").is_retired  # Explicit VR Big Endian


def test_unknown_uid() -> None:
    x = UID("1.2.3.4")
    assert uid_info(x) is None
    assert (x.name, x.keyword, x.type, x.is_transfer_syntax, x.is_retired) == (
        "1.2.3.4", "", "", False, False)


def test_padded_uid_lookup() -> None:
    assert uid_info("1.2.840.10008.1.2\0") is not None


def test_transfer_syntax_constants() -> None:
    assert u.ImplicitVRLittleEndian == "1.2.840.10008.1.2"
    assert u.ExplicitVRLittleEndian == "1.2.840.10008.1.2.1"
    assert u.DeflatedExplicitVRLittleEndian == "1.2.840.10008.1.2.1.99"
    assert u.ExplicitVRBigEndian == "1.2.840.10008.1.2.2"
    for name in ("ImplicitVRLittleEndian", "ExplicitVRLittleEndian",
                 "DeflatedExplicitVRLittleEndian", "ExplicitVRBigEndian"):
        assert uid_for_keyword(name) == getattr(u, name)
        assert UID(getattr(u, name)).is_transfer_syntax


def test_validity() -> None:
    assert UID("1.2.840.10008.1.2").is_valid
    assert UID("0").is_valid and UID("2.25.0").is_valid
    assert not UID("1.2.03").is_valid  # leading zero
    assert not UID("").is_valid
    assert not UID("1." + "2" * 63).is_valid  # 65 chars
    assert UID("1." + "2" * 62).is_valid  # 64 chars
    for bad in ("1..2", "1.2.", ".1", "1.2\0", "1.2 ", "1.a", "1.²"):
        assert not UID(bad).is_valid, bad


def test_generate_uid_default() -> None:
    uids = {generate_uid() for _ in range(1000)}
    assert len(uids) == 1000
    for x in uids:
        assert x.startswith("2.25.") and UID(x).is_valid


def test_generate_uid_prefix() -> None:
    prefix = "1.2.826.0.1.3680043.8.498."
    uids = {generate_uid(prefix) for _ in range(1000)}
    assert len(uids) == 1000
    for x in uids:
        assert x.startswith(prefix) and UID(x).is_valid and len(x) <= 64
    long_prefix = "1." + "2" * 58 + "."  # 61 chars: 3 digits left
    assert UID(generate_uid(long_prefix)).is_valid


def test_generate_uid_bad_prefix() -> None:
    import pytest

    for bad in ("1.2", "1.02.", "1." + "2" * 62 + "."):
        with pytest.raises(ValueError):
            generate_uid(bad)


def test_registered_returns_the_registry_uid_or_raises() -> None:
    assert u.registered("CTImageStorage") == "1.2.840.10008.5.1.4.1.1.2"
    assert u.registered("DICOMApplicationContext") == "1.2.840.10008.3.1.1.1"
    with pytest.raises(KeyError, match="NoSuchKeyword"):
        u.registered("NoSuchKeyword")
