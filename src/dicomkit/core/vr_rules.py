"""PS3.5 §6.2 Table 6.2-1: what one value of each string VR may hold, and PS3.6 value
multiplicity (§6 "VM" column).

:func:`value_problems` checks one value's text as it is encoded (padding removed):
its length, its character repertoire (Table 6.2-1 and §6.1.2) and its syntax (DA, TM, DT, AS,
DS, IS, UI: §6.2 and §9.1). :func:`vm_allows` reads PS3.6's VM notation (``1``, ``1-3``,
``1-n``, ``2-2n``). Used by :mod:`dicomkit.iod.validate`; nothing here raises for bad input.
"""

from __future__ import annotations

import re

from dicomkit.core.vr import VR_INFO, forbidden_control

_DIGITS = frozenset("0123456789")
_CS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _")
_DS = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_IS = re.compile(r"[+-]?\d+")
_AS = re.compile(r"\d{3}[DWMY]")
_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?")
_TM = re.compile(r"(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?")


def value_problems(vr: str, text: str) -> list[str]:
    """The PS3.5 rules one value of a string VR breaks (``text`` without its padding)."""
    info = VR_INFO.get(vr)
    if info is None or info.kind in ("bytes", "sq", "at") or info.fixed_size:
        return []
    problems: list[str] = []
    stripped = text.strip(" ") if vr not in ("UI",) else text.rstrip("\0")
    if info.max_length is not None:
        longest = max((len(g) for g in text.split("=")), default=0) if vr == "PN" else len(text)
        if longest > info.max_length:
            unit = " per component group" if vr == "PN" else ""
            problems.append(f"longer than {info.max_length} characters{unit} ({longest})")
    bad = forbidden_control(vr, text, encoded=True)
    if bad is not None:
        problems.append(f"character {ord(text[bad]):#04x} at {bad} is not allowed in {vr}")
    check = _SYNTAX.get(vr)
    if check is not None and stripped:
        problem = check(stripped)
        if problem:
            problems.append(problem)
    return problems


def _cs(text: str) -> str:
    bad = next((c for c in text if c not in _CS), None)
    return "" if bad is None else (f"character {bad!r} is not allowed in CS (upper case letters,"
                                   " digits, space and underscore)")


def _ae(text: str) -> str:
    return "an AE value may not contain a backslash" if "\\" in text else ""


def _as(text: str) -> str:
    return "" if _AS.fullmatch(text) else "not an age string nnnD, nnnW, nnnM or nnnY"


def _da(text: str) -> str:
    if len(text) != 8 or not _DIGITS.issuperset(text):
        return "not a date YYYYMMDD"
    return _date_problem(text[:4], text[4:6], text[6:8])


def _date_problem(year: str, month: str | None, day: str | None) -> str:
    import calendar

    if month is not None and not 1 <= int(month) <= 12:
        return f"month {month} is out of range"
    if month is not None and day is not None:
        last = calendar.monthrange(max(int(year), 1), int(month))[1]
        if not 1 <= int(day) <= last:
            return f"day {day} is out of range for month {month}"
    return ""


def _time_problem(hour: str, minute: str | None, second: str | None) -> str:
    if int(hour) > 23:
        return f"hour {hour} is out of range"
    if minute is not None and int(minute) > 59:
        return f"minute {minute} is out of range"
    if second is not None and int(second) > 60:
        return f"second {second} is out of range"
    return ""


def _tm(text: str) -> str:
    found = _TM.fullmatch(text)
    if found is None:
        return "not a time HH[MM[SS[.FFFFFF]]]"
    if found.group(4) and not found.group(3):
        return "a fraction needs seconds"
    return _time_problem(found.group(1), found.group(2), found.group(3))


def _dt(text: str) -> str:
    found = _DT.fullmatch(text)
    if found is None:
        return "not a date-time YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]"
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    if fraction and not second:
        return "a fraction needs seconds"
    problem = _date_problem(year, month, day)
    if not problem and hour is not None:
        problem = _time_problem(hour, minute, second)
    if not problem and offset and not (-1200 <= int(offset) <= 1400):
        problem = f"UTC offset {offset} is out of range (-1200 to +1400)"
    return problem


def _ds(text: str) -> str:
    return "" if _DS.fullmatch(text) else "not a decimal string"


def _is(text: str) -> str:
    if not _IS.fullmatch(text):
        return "not an integer string"
    if not -(2**31) <= int(text) <= 2**31 - 1:
        return "out of the IS range -2^31 to 2^31-1"
    return ""


def _ui(text: str) -> str:
    """PS3.5 §9.1: digits and dots, no empty component, no leading zero in a component; the
    first component of an ISO OID (the root) is 0, 1 or 2 (ISO/IEC 8824)."""
    if " " in text:
        return "a UID may not contain spaces (pad with one NUL only)"
    parts = text.split(".")
    for part in parts:
        if not part:
            return "empty component"
        if not _DIGITS.issuperset(part):
            return "characters other than digits and '.'"
        if part[0] == "0" and len(part) > 1:
            return f"component {part!r} has a leading zero"
    if parts[0] not in ("0", "1", "2"):
        return f"root component {parts[0]!r} is not 0, 1 or 2 (ISO/IEC 8824 OID)"
    if all(part == "0" for part in parts):
        return "nothing but zero components"
    return ""


def _ur(text: str) -> str:
    return "a URI may not begin with a space" if text.startswith(" ") else ""


_SYNTAX = {"AE": _ae, "AS": _as, "CS": _cs, "DA": _da, "DS": _ds, "DT": _dt, "IS": _is,
           "TM": _tm, "UI": _ui, "UR": _ur}


def vm_allows(vm: str, count: int) -> bool:
    """Whether ``count`` values fit PS3.6's VM notation (``1``, ``1-3``, ``1-n``, ``2-2n``,
    ``3-3n``, ``1-32``); an unparsable VM allows anything."""
    vm = vm.strip()
    if not vm or vm == "NONE":
        return True
    low_text, _, high_text = vm.partition("-")
    try:
        low = int(low_text)
    except ValueError:
        return True
    if not high_text:
        return count == low
    if high_text.endswith("n"):
        step = int(high_text[:-1] or 1)
        return count >= low and (step <= 1 or count % step == 0)
    try:
        return low <= count <= int(high_text)
    except ValueError:
        return True
