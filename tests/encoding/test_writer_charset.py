"""The writer encodes text in the Specific Character Set of the data set it writes
(PS3.5 §6.1.2.2), also when the character set was set after the value."""

from __future__ import annotations

from dicomkit.core.charset import encode_text
from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.reader import read_dataset
from dicomkit.encoding.writer import dataset_to_bytes

# PS3.5 Example H.3-1.
NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"
CHARSETS = ["", "ISO 2022 IR 87"]


def test_a_name_set_before_its_character_set_is_written_in_it() -> None:
    ds = Dataset()
    ds.PatientName = NAME  # no Specific Character Set yet: the default repertoire
    ds.SpecificCharacterSet = CHARSETS
    data = dataset_to_bytes(ds, ts_mod.for_uid("1.2.840.10008.1.2.1"))
    expected = encode_text(NAME, CHARSETS, "PN")
    assert expected + (b" " if len(expected) % 2 else b"") in data
    back = read_dataset(data)
    assert str(back.PatientName) == NAME
