"""Python forms of DICOM values: PersonName (PS3.5 §6.2.1) and DA/TM/DT (PS3.5 §6.2)."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

_COMPONENT_NAMES = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix")


class PersonName(str):
    """A PN value: up to three component groups (alphabetic, ideographic, phonetic) separated by
    ``=``, each with five components separated by ``^`` (PS3.5 §6.2.1.1)."""

    __slots__ = ()

    @classmethod
    def from_parts(
        cls,
        alphabetic: str | dict[str, str] = "",
        ideographic: str | dict[str, str] = "",
        phonetic: str | dict[str, str] = "",
    ) -> PersonName:
        groups = []
        for group in (alphabetic, ideographic, phonetic):
            if isinstance(group, dict):
                comps = [group.get(name, "") for name in _COMPONENT_NAMES]
                group = "^".join(comps).rstrip("^")
            groups.append(group)
        return cls("=".join(groups).rstrip("="))

    def _group(self, index: int) -> str:
        groups = self.split("=")
        return groups[index] if index < len(groups) else ""

    @property
    def alphabetic(self) -> str:
        return self._group(0)

    @property
    def ideographic(self) -> str:
        return self._group(1)

    @property
    def phonetic(self) -> str:
        return self._group(2)

    @property
    def components(self) -> tuple[str, ...]:
        """The non-empty component groups, as pydicom gives them."""
        return tuple(g for g in self.split("=") if g) or ("",)

    def _component(self, index: int) -> str:
        comps = self.alphabetic.split("^")
        return comps[index] if index < len(comps) else ""

    @property
    def family_name(self) -> str:
        return self._component(0)

    @property
    def given_name(self) -> str:
        return self._component(1)

    @property
    def middle_name(self) -> str:
        return self._component(2)

    @property
    def name_prefix(self) -> str:
        return self._component(3)

    @property
    def name_suffix(self) -> str:
        return self._component(4)

    def __repr__(self) -> str:
        return f"PersonName({str(self)!r})"


_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DA_OLD = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")  # ACR-NEMA form, PS3.5 §6.2 note
_TM = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")
_DT = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$"
)


def parse_da(text: str) -> _dt.date:
    """PS3.5 §6.2 DA: ``YYYYMMDD`` (and the old ``YYYY.MM.DD``)."""
    m = _DA.match(text.strip()) or _DA_OLD.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a DA value (YYYYMMDD)")
    return _dt.date(int(m[1]), int(m[2]), int(m[3]))


def _micro(frac: str | None) -> int:
    return int(frac.ljust(6, "0")) if frac else 0


def parse_tm(text: str) -> _dt.time:
    """PS3.5 §6.2 TM: ``HH[MM[SS[.F{1-6}]]]`` (colons of the old form accepted)."""
    m = _TM.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a TM value (HHMMSS.FFFFFF)")
    second = int(m[3] or 0)
    return _dt.time(int(m[1]), int(m[2] or 0), min(second, 59), _micro(m[4]))


def parse_dt(text: str) -> _dt.datetime:
    """PS3.5 §6.2 DT: ``YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]``."""
    m = _DT.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a DT value (YYYYMMDDHHMMSS.FFFFFF&ZZXX)")
    tz: _dt.tzinfo | None = None
    if m[8]:
        sign = -1 if m[8][0] == "-" else 1
        offset = _dt.timedelta(hours=int(m[8][1:3]), minutes=int(m[8][3:5]))
        tz = _dt.timezone(sign * offset)
    return _dt.datetime(
        int(m[1]), int(m[2] or 1), int(m[3] or 1), int(m[4] or 0), int(m[5] or 0),
        min(int(m[6] or 0), 59), _micro(m[7]), tzinfo=tz,
    )


def format_da(value: _dt.date) -> str:
    return value.strftime("%Y%m%d")


def format_tm(value: _dt.time) -> str:
    text = value.strftime("%H%M%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def format_dt(value: _dt.datetime) -> str:
    text = value.strftime("%Y%m%d%H%M%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    if value.utcoffset() is not None:
        text += value.strftime("%z")
    return text


def format_ds(value: Any) -> str:
    """PS3.5 §6.2 DS: at most 16 bytes; use the shortest exact form that fits."""
    if isinstance(value, str):
        return value
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        text = str(int(number))
    else:
        text = repr(number)
    if len(text) > 16:
        for precision in range(15, 0, -1):
            text = f"{number:.{precision}g}"
            if len(text) <= 16:
                break
    return text
