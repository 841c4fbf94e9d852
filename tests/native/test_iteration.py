"""The compiled data set iteration and value property (dicomkit.encoding._lazy.iterate and
.walk, dicomkit.core._vr.element_value) against their pure twins (lazy.iterate, lazy.walk,
element.element_value): the same elements in the same order at the same depths, the same
values and the same errors, on the sample files (character sets included: ISO 2022
Japanese and Korean, UTF-8, multi-frame and encapsulated Pixel Data), on randomly changed
copies of them, and when the data set changes while it is iterated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dicomkit import native
from dicomkit.core import dataset as dataset_module
from dicomkit.core import element as element_module
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.encoding import lazy, reader
from dicomkit.encoding.writer import dataset_to_bytes
from tests.native.test_reader import small_files
from tests.native.test_values import form
from tests.support.encoding import pydicom_sample_files

LAZY = native.compiled("dicomkit.encoding._lazy")
VALUE = native.compiled("dicomkit.core._vr").element_value
TWINS: dict[str, tuple[Any, Any, Any, Callable[[DataElement], Any]]] = {
    "pure": (lazy.materialize, lazy.iterate, lazy.walk, element_module.element_value),
    "compiled": (LAZY.materialize, LAZY.iterate, LAZY.walk, VALUE),
}


@contextmanager
def twin(name: str) -> Iterator[Callable[[DataElement], Any]]:
    """Data sets iterate and materialize with the twin ``name`` (nested items too); yields
    that twin's ``element.value``."""
    materialize, iterate, walk, value = TWINS[name]
    saved = (dataset_module._MATERIALIZE, dataset_module._ITERATE, dataset_module._WALK)
    dataset_module._MATERIALIZE, dataset_module._ITERATE, dataset_module._WALK = (
        materialize, iterate, walk)
    try:
        yield value
    finally:
        dataset_module._MATERIALIZE, dataset_module._ITERATE, dataset_module._WALK = saved


def outcome(step: Callable[[], Any]) -> Any:
    try:
        return ("value", step())
    except Exception as error:  # noqa: BLE001 - the exception itself is compared
        return ("error", type(error).__name__, str(error))


def element_form(element: DataElement, value: Callable[[DataElement], Any]) -> Any:
    raw = element.raw
    if element.VR == "SQ":
        decoded: Any = ("items", len(element.value))
    else:
        decoded = outcome(lambda: form(value(element)))
    return (type(element.tag), int(element.tag), element.VR, type(raw).__name__,
            bytes(raw) if raw is not None else None, element.little, list(element.charsets),
            element.is_undefined_length, decoded)


def walked(name: str, source: Any, **options: Any) -> Any:
    """What reading ``source`` and walking it with every value gives under twin ``name``:
    the File Meta Information by ``iter``, the data set by ``walk``, each with its value (a
    second ``.value`` gives the value kept), or the error that stopped it."""
    with twin(name) as value:
        try:
            ds = reader.read(source, **options)
        except Exception as error:  # noqa: BLE001 - files the reader refuses are not compared
            return ("unread", type(error).__name__)
        found: list[Any] = []

        def go() -> None:
            for element in ds.file_meta or ():
                found.append((-1, element_form(element, value)))
            for depth, element in ds.walk():
                found.append((depth, element_form(element, value)))
                if element.VR != "SQ":
                    found.append(outcome(lambda e=element: form(e.value)))
        return found, outcome(go)


@pytest.mark.parametrize("path", pydicom_sample_files(), ids=lambda p: p.name)
def test_sample_files_walk_the_same(path: Path) -> None:
    """Every element of every sample file, read whole (Pixel Data included, multi-frame and
    encapsulated) and header-only: the same elements, depths, values and errors."""
    for options in ({}, {"stop_before_pixels": True}):
        assert walked("compiled", path, **options) == walked("pure", path, **options)


def test_random_mutations_walk_the_same() -> None:
    """600 copies of the small files with 1-4 bytes changed (fixed seed): hostile lengths,
    VRs, character sets and values decode (or fail) the same."""
    rng = random.Random(1818)
    files = small_files()
    walks = 0
    for index in range(600):
        data = bytearray(rng.choice(files))
        if not data:
            continue
        span = min(len(data), 2048)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(span) if rng.random() < 0.9 else rng.randrange(len(data))
            data[at] = rng.choice((0x00, 0xFF, 0x1B, 0x5C, 0x80, 0x41, 0x53, rng.randrange(256)))
        piece = bytes(data)
        compiled, pure = walked("compiled", piece), walked("pure", piece)
        assert compiled == pure, f"mutation {index}"
        walks += pure[0] != "unread"
    assert walks > 300  # most copies were read and walked, not refused


HOSTILE: list[Any] = [b"", b"\0", b"\x1b$B\x1b(B\\", b"\xff" * 7, b"1_0\\ +5 \\\xa012\xa0",
                      b"Infinity\\-0\\1e-400\\0x10\\\\", b"\x00\x80\x10\x00\x08",
                      bytearray(b"12"), memoryview(b"\x01\x02\x03"), "not bytes", 12, None]


@pytest.mark.parametrize("vr", ["US", "SS", "UL", "SL", "FL", "FD", "AT", "DS", "IS", "UI",
                                "PN", "LO", "SH", "LT", "UT", "CS", "DA", "OB", "OW", "XX"])
def test_hostile_values_decode_or_fail_the_same(vr: str) -> None:
    """Odd lengths, escapes, bytes above 7F, numbers Python reads oddly and raw values that
    are not bytes (or not even a buffer: the pure property's InvalidDicomError)."""
    for raw in HOSTILE:
        for little in (True, False):
            for charsets in ((), ["ISO 2022 IR 87"], ["", "ISO 2022 IR 149"], ["ISO_IR 192"]):
                results = []
                for name in ("compiled", "pure"):
                    element = DataElement.from_raw(0x00100010, vr, raw, little, charsets, False)
                    value = TWINS[name][3]
                    first = outcome(lambda e=element, v=value: form(v(e)))
                    results.append((first, outcome(lambda e=element, v=value: form(v(e)))))
                assert results[0] == results[1], (vr, raw, little, charsets)


def dataset_of(count: int) -> Dataset:
    source = Dataset()
    for number in range(count):
        source.set(0x00091010 + number, f"value {number}", "LO")
    return reader.read(dataset_to_bytes(source))


def iteration(name: str, change: Callable[[Dataset, int], None]) -> list[Any]:
    """Iterate a data set of 6 elements under twin ``name``, calling ``change(ds, i)``
    before each step; what each step gave, and two steps past an error or the end."""
    with twin(name):
        ds = dataset_of(6)
        steps = iter(ds)
        seen: list[Any] = []
        for index in range(9):
            change(ds, index)
            try:
                element = next(steps)
            except StopIteration:
                seen.append("end")
                continue
            except Exception as error:  # noqa: BLE001 - the exception itself is compared
                seen.append(("error", type(error).__name__, str(error)))
                continue
            seen.append((int(element.tag), element.value))
        return seen


def delete_third(ds: Dataset, index: int) -> None:
    if index == 2:
        del ds[0x00091012]


def add_before_start(ds: Dataset, index: int) -> None:
    if index == 0:
        ds.set(0x00091000, "added before the first step", "LO")
    if index == 3:
        ds.set(0x00091001, "added while iterating", "LO")


def replace_fourth(ds: Dataset, index: int) -> None:
    if index == 1:
        ds.set(0x00091013, "replaced", "LO")


@pytest.mark.parametrize("change", [delete_third, add_before_start, replace_fourth])
def test_a_data_set_changed_while_iterated_iterates_the_same(
        change: Callable[[Dataset, int], None]) -> None:
    assert iteration("compiled", change) == iteration("pure", change)


def test_a_walk_stops_after_an_error_as_a_generator_does() -> None:
    for name in ("compiled", "pure"):
        with twin(name):
            ds = dataset_of(3)
            steps = ds.walk()
            next(steps)
            del ds[0x00091011]
            with pytest.raises(KeyError):
                next(steps)
            with pytest.raises(StopIteration):
                next(steps)


def test_the_compiled_twins_are_the_ones_in_use_unless_pure() -> None:
    assert lazy.ITERATE is (lazy.iterate if native.PURE else LAZY.iterate)
    assert lazy.WALK is (lazy.walk if native.PURE else LAZY.walk)
    assert element_module._VALUE is (element_module.element_value if native.PURE else VALUE)
    assert DataElement.value.fget is element_module._VALUE


def test_the_value_of_an_object_that_is_not_a_data_element_is_the_pure_functions() -> None:
    """The compiled getter reads a DataElement's slots directly; anything else (called as
    ``DataElement.value.fget(other)``) goes the pure way."""
    from types import SimpleNamespace

    for name in ("compiled", "pure"):
        other = SimpleNamespace(_value=element_module._UNSET, raw=b"1\\2 ", VR="IS",
                                little=True, charsets=())
        assert TWINS[name][3](other) == [1, 2]
        assert other._value == [1, 2]
        empty = SimpleNamespace()
        assert outcome(lambda e=empty, v=TWINS[name][3]: v(e))[:2] == ("error",
                                                                       "AttributeError")
    bare = object.__new__(DataElement)  # no slot set: the AttributeError of the slot
    assert outcome(lambda: VALUE(bare)) == outcome(lambda: element_module.element_value(bare))
