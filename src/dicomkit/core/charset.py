"""Specific Character Set (0008,0005): decoding and encoding of text values.

Implements PS3.5 §6.1 (and the informative Annexes H, I, J, K) for the Defined Terms of
PS3.3 C.12.1.1.2 (Tables C.12-2 to C.12-5):

* single-byte sets without code extensions (``ISO_IR 100`` …), decoded with one codec;
* ISO/IEC 2022 code extensions (``ISO 2022 IR …``): the value is split on escape sequences
  and each run is decoded with the set designated to G0 (bytes 0x21-0x7E) or G1 (bytes with
  the high bit set).  The initial designation comes from value 1 (empty = ISO-IR 6 in G0, G1
  undefined) and is restored at the delimiters of PS3.5 §6.1.2.5.3: control characters
  (CR, LF, FF, TAB …), ``\\`` for multi-valued VRs and ``^`` / ``=`` for PN;
* the stand-alone multi-byte sets ``ISO_IR 192`` (UTF-8), ``GB18030`` and ``GBK``.

Decoding never raises: undecodable bytes become U+FFFD.  The default repertoire is decoded
leniently as ISO 8859-1 (a superset of ASCII), but encoded strictly as ASCII.  JIS X 0201
romaji (ISO-IR 14) is treated as ASCII, since 05/12 must stay the value delimiter.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from dicomkit.errors import CharsetEncodeError

__all__ = ["TEXT_VRS", "NormalizedCharsets", "decode_text", "encode_text", "normalize_charsets",
           "python_codec"]  # fmt: skip

TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})

ESC = b"\x1b"
_DEFAULT_DECODE = "latin_1"  # lenient decoding of the default repertoire

# JIS X 0201 as an 8-bit table: ISO-IR 14 romaji (read as ASCII) in GL, ISO-IR 13 katakana
# in GR at 0xA1-0xDF (U+FF61-U+FF9F).  U+FFFE marks undefined bytes for charmap_decode.
_JISX0201_TABLE = "".join(
    chr(b) if b < 0x80 else chr(0xFF61 + b - 0xA1) if 0xA1 <= b <= 0xDF else "\ufffe"
    for b in range(256)
)


class _Element:
    """A graphic character set that can be designated to G0 or G1 by an escape sequence."""

    __slots__ = ("name", "escape", "g1", "multibyte", "kind", "codec", "_cache")

    def __init__(self, name: str, escape: bytes, g1: bool, kind: str, codec: str) -> None:
        self.name = name
        self.escape = escape  # full escape sequence, ESC included
        self.g1 = g1
        self.kind = kind  # ascii | sb (8-bit G1) | kana | jis (2-byte G0) | euc (2-byte G1)
        self.multibyte = kind in ("jis", "euc")
        self.codec = codec
        self._cache: dict[str, bytes | None] = {}

    def decode(self, run: bytes) -> str:
        """Decode a run of bytes in this set's area (G1 sets also accept ASCII bytes)."""
        if self.kind == "kana":
            return codecs.charmap_decode(run, "replace", _JISX0201_TABLE)[0]
        if self.kind == "jis":  # the Python ISO-2022-JP codecs need the designation first
            return (self.escape + run).decode(self.codec, "replace")
        return run.decode(self.codec, "replace")

    def encode_char(self, ch: str) -> bytes | None:
        """The bytes of `ch` in this set (without escape sequence), or None."""
        try:
            return self._cache[ch]
        except KeyError:
            pass
        result: bytes | None = None
        kind = self.kind
        if kind == "ascii":
            result = ch.encode("ascii") if ch.isascii() else None
        elif kind == "kana":
            result = bytes([ord(ch) - 0xFF61 + 0xA1]) if "\uff61" <= ch <= "\uff9f" else None
        else:
            try:
                data = ch.encode(self.codec)
            except UnicodeEncodeError:
                data = b""
            if kind == "sb":
                result = data if len(data) == 1 and data[0] >= 0x80 else None
            elif kind == "euc":
                result = data if len(data) == 2 and min(data) >= 0xA1 else None
            elif data.startswith(self.escape):  # jis: ESC $ B xx xx ESC ( B
                body = data[len(self.escape) :].split(ESC, 1)[0]
                result = body if len(body) == 2 else None
        self._cache[ch] = result
        return result


ASCII = _Element("ISO-IR 6", ESC + b"(B", False, "ascii", "ascii")
ROMAJI = _Element("ISO-IR 14", ESC + b"(J", False, "ascii", "ascii")
KATAKANA = _Element("ISO-IR 13", ESC + b")I", True, "kana", "")
JIS_X_0208 = _Element("ISO-IR 87", ESC + b"$B", False, "jis", "iso2022_jp")
JIS_X_0212 = _Element("ISO-IR 159", ESC + b"$(D", False, "jis", "iso2022_jp_2")
KS_X_1001 = _Element("ISO-IR 149", ESC + b"$)C", True, "euc", "euc_kr")
GB_2312 = _Element("ISO-IR 58", ESC + b"$)A", True, "euc", "gb2312")

# ISO 8859 / TIS 620 G1 sets: IR number -> (Python codec, final byte of ESC 02/13 Fb).
_SINGLE_BYTE = {
    100: ("latin_1", b"A"), 101: ("iso8859_2", b"B"), 109: ("iso8859_3", b"C"),
    110: ("iso8859_4", b"D"), 144: ("iso8859_5", b"L"), 127: ("iso8859_6", b"G"),
    126: ("iso8859_7", b"F"), 138: ("iso8859_8", b"H"), 148: ("iso8859_9", b"M"),
    203: ("iso8859_15", b"b"), 166: ("tis_620", b"T"),
}  # fmt: skip
_G1_SETS = {
    ir: _Element(f"ISO-IR {ir}", ESC + b"-" + final, True, "sb", codec)
    for ir, (codec, final) in _SINGLE_BYTE.items()
}

# Defined Term -> (G0 element, G1 element) for every term usable with ISO 2022.
_TERMS: dict[str, tuple[_Element | None, _Element | None]] = {
    "": (ASCII, None),
    "ISO 2022 IR 6": (ASCII, None),
    "ISO_IR 13": (ROMAJI, KATAKANA),
    "ISO 2022 IR 13": (ROMAJI, KATAKANA),
    "ISO 2022 IR 87": (JIS_X_0208, None),
    "ISO 2022 IR 159": (JIS_X_0212, None),
    "ISO 2022 IR 149": (None, KS_X_1001),
    "ISO 2022 IR 58": (None, GB_2312),
}
for _ir, _element in _G1_SETS.items():
    _TERMS[f"ISO_IR {_ir}"] = _TERMS[f"ISO 2022 IR {_ir}"] = (ASCII, _element)

# Table C.12-5: multi-byte sets without code extensions.
_STANDALONE = {"ISO_IR 192": "utf_8", "GB18030": "gb18030", "GBK": "gbk"}

# Escape sequences recognised when decoding (a few lenient aliases included).
_ESCAPES: dict[bytes, _Element] = {
    el.escape[1:]: el
    for el in (ASCII, ROMAJI, KATAKANA, JIS_X_0208, JIS_X_0212, KS_X_1001, GB_2312)
}
_ESCAPES.update({el.escape[1:]: el for el in _G1_SETS.values()})
_ESCAPES[b"$@"] = _ESCAPES[b"$(B"] = JIS_X_0208  # JIS C 6226-1978 / 4-byte form

# -- Defined Terms and their spelling ------------------------------------------------------

_ISO8859_PART = {1: 100, 2: 101, 3: 109, 4: 110, 5: 144, 6: 127, 7: 126, 8: 138, 9: 148, 15: 203}
_MULTIBYTE_2022 = {87, 159, 149, 58}
_ALIASES = {
    "UTF8": "ISO_IR 192", "UNICODE": "ISO_IR 192", "ISO10646": "ISO_IR 192",
    "GB18030": "GB18030", "GBK": "GBK", "ISO2022GBK": "GBK",
    "ISO202258": "ISO 2022 IR 58", "GB2312": "ISO 2022 IR 58", "EUCCN": "ISO 2022 IR 58",
    "ASCII": "", "USASCII": "", "TIS620": "ISO_IR 166", "EUCKR": "ISO 2022 IR 149",
    "LATIN1": "ISO_IR 100", "LATIN2": "ISO_IR 101", "LATIN9": "ISO_IR 203",
}  # fmt: skip
_KNOWN = frozenset(_TERMS) | frozenset(_STANDALONE)
_PYTHON_CODECS = {term: codec for term, codec in _STANDALONE.items()}
_PYTHON_CODECS.update({"": "ascii", "ISO 2022 IR 6": "ascii", "ISO_IR 13": "shift_jis",
                       "ISO 2022 IR 13": "shift_jis", "ISO 2022 IR 87": "iso2022_jp",
                       "ISO 2022 IR 159": "iso2022_jp_2", "ISO 2022 IR 149": "euc_kr",
                       "ISO 2022 IR 58": "gb2312"})  # fmt: skip
for _ir, (_codec, _final) in _SINGLE_BYTE.items():
    _PYTHON_CODECS[f"ISO_IR {_ir}"] = _PYTHON_CODECS[f"ISO 2022 IR {_ir}"] = _codec


@lru_cache(maxsize=256)
def _canonical_term(term: str) -> str | None:
    """The Defined Term meant by `term` (tolerating common misspellings), or None."""
    upper = term.strip().upper()
    if upper in _KNOWN:
        return upper
    compact = re.sub(r"[\s_\-.]+", "", upper)
    if compact in _ALIASES:
        return _ALIASES[compact]
    m = re.fullmatch(r"(ISO2022)?(?:ISO)?IR(\d+)", compact)
    if m:
        ir = int(m[2])
        if ir == 192:
            return "ISO_IR 192"
        if m[1] or ir in _MULTIBYTE_2022:
            candidate = f"ISO 2022 IR {ir}"
        else:
            candidate = f"ISO_IR {ir}" if ir != 6 else ""
        if candidate in _KNOWN:
            return candidate
    m = re.fullmatch(r"(?:ISO|ISOIEC)?8859(\d+)", compact)
    if m and int(m[1]) in _ISO8859_PART:
        return f"ISO_IR {_ISO8859_PART[int(m[1])]}"
    return None


class NormalizedCharsets(list[str]):
    """The Defined Terms of (0008,0005), plus what normalisation had to fix.

    ``unknown`` lists the values that were not recognised (replaced by ``""``, the default
    repertoire); ``corrected`` maps misspelt values to the Defined Term used instead.
    """

    def __init__(self, terms: Iterable[str] = (), unknown: Iterable[str] = (),
                 corrected: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(terms)
        self.unknown: tuple[str, ...] = tuple(unknown)
        self.corrected: dict[str, str] = dict(corrected or {})


def normalize_charsets(value: str | Sequence[str] | None) -> list[str]:
    """Normalise a Specific Character Set value (a str with backslashes, or a list).

    Whitespace is stripped, misspellings such as ``ISO_IR_100``, ``ISO-IR 100``,
    ``ISO IR 192`` or ``UTF-8`` are mapped to the Defined Term, unknown values become ``""``
    (default repertoire) and are listed in ``.unknown``.  In a multi-valued list the terms
    without code extensions (``ISO_IR 100``) are replaced by their ``ISO 2022`` form.  An
    absent or entirely empty value gives an empty list.  The list returned is a
    :class:`NormalizedCharsets`, whose ``unknown`` and ``corrected`` say what was fixed.
    """
    if value is None:
        raw: list[str] = []
    elif isinstance(value, str):
        raw = value.split("\\")
    else:
        raw = [part for item in value for part in str(item).split("\\")]
    raw = [item.strip(" \0\t\r\n") for item in raw]
    if not any(raw):
        return NormalizedCharsets()
    terms: list[str] = []
    unknown: list[str] = []
    corrected: dict[str, str] = {}
    for item in raw:
        term = _canonical_term(item)
        if term is None:
            unknown.append(item)
            term = ""
        elif term != item:
            corrected[item] = term
        if len(raw) > 1 and term.startswith("ISO_IR ") and term not in _STANDALONE:
            term = "ISO 2022 IR " + term[7:]
            corrected[item] = term
        terms.append(term)
    return NormalizedCharsets(terms if any(terms) else [], unknown, corrected)


def python_codec(term: str) -> str | None:
    """The Python codec for a Defined Term (approximate for ISO 2022 sets), or None."""
    canonical = _canonical_term(term)
    return None if canonical is None else _PYTHON_CODECS.get(canonical)


# -- Plans: what a given (0008,0005) value means --------------------------------------------


class _Plan:
    __slots__ = ("terms", "standalone", "g0", "g1", "elements", "decode_codec", "encode_codec")

    def __init__(self, terms: tuple[str, ...]) -> None:
        self.terms = terms
        self.standalone: str | None = None
        self.g0: _Element = ASCII
        self.g1: _Element | None = None
        self.elements: tuple[_Element, ...] = (ASCII,)
        self.decode_codec: str | None = _DEFAULT_DECODE  # one-call decoding without ESC
        self.encode_codec: str | None = None  # one-call encoding of the initial G1 set
        if not terms:
            return
        if terms[0] in _STANDALONE:  # PS3.5 §6.1.2.5.4 d: no code extensions
            self.standalone = self.decode_codec = _STANDALONE[terms[0]]
            return
        first_g0, first_g1 = _TERMS.get(terms[0], (ASCII, None))
        if first_g0 is not None and not first_g0.multibyte:
            self.g0 = first_g0
        self.g1 = first_g1
        elements: list[_Element] = []
        for term in terms:  # stand-alone sets after value 1 cannot take part: skipped
            for element in _TERMS.get(term, (None, None)):
                if element is not None and element not in elements:
                    elements.append(element)
        if self.g0 not in elements:
            elements.insert(0, self.g0)
        self.elements = tuple(elements)
        if first_g1 is not None:
            self.decode_codec = first_g1.codec if first_g1.kind in ("sb", "euc") else None
            self.encode_codec = first_g1.codec if first_g1.kind == "sb" else None


@lru_cache(maxsize=512)
def _plan_cached(key: tuple[str, ...]) -> _Plan:
    return _Plan(tuple(normalize_charsets(list(key))))


def _plan_for(charsets: str | Sequence[str]) -> _Plan:
    return _plan_cached((charsets,) if isinstance(charsets, str) else tuple(charsets))


# -- Decoding --------------------------------------------------------------------------------

_CONTROLS = rb"\x00-\x1a\x1c-\x1f"  # every control character but ESC
_CONTROL_RE = re.compile(rb"[" + _CONTROLS + rb"]")
_MULTI_RE = re.compile(rb"[" + _CONTROLS + rb"\\]")
_DELIMITER_RE = {
    "PN": re.compile(rb"[" + _CONTROLS + rb"\\^=]"),
    "SH": _MULTI_RE,
    "LO": _MULTI_RE,
    "UC": _MULTI_RE,
}
_GL_GR_RE = re.compile(rb"[\x00-\x7f]+|[\x80-\xff]+")


def _decode_run(run: bytes, g0: _Element, g1: _Element | None) -> str:
    if not g0.multibyte:  # GL is ASCII / romaji, which every G1 codec also decodes
        return g1.decode(run) if g1 is not None else run.decode(_DEFAULT_DECODE)
    parts = []
    for m in _GL_GR_RE.finditer(run):
        chunk = m.group()
        if chunk[0] < 0x80:
            parts.append(g0.decode(chunk))
        else:
            parts.append(g1.decode(chunk) if g1 is not None else chunk.decode(_DEFAULT_DECODE))
    return "".join(parts)


def _decode_2022(raw: bytes, plan: _Plan, vr: str) -> str:
    delimiters = _DELIMITER_RE.get(vr, _CONTROL_RE)
    g0, g1 = plan.g0, plan.g1
    out: list[str] = []
    for index, segment in enumerate(raw.split(ESC)):
        pos = 0
        if index:  # the segment follows an ESC: designate the set it names
            pos = 3
            element = _ESCAPES.get(segment[:3])
            if element is None:
                pos = 2
                element = _ESCAPES.get(segment[:2])
            if element is None:
                pos = 0
                out.append("\ufffd")  # unknown escape sequence: keep the current sets
            else:
                if element.g1:
                    g1 = element
                else:
                    g0 = element
        end_all = len(segment)
        while pos < end_all:
            m = (_CONTROL_RE if g0.multibyte else delimiters).search(segment, pos)
            end = m.start() if m else end_all
            if end > pos:
                out.append(_decode_run(segment[pos:end], g0, g1))
            if m is None:
                break
            out.append(chr(segment[end]))
            # §6.1.2.5.3: back to the initial designation (an undefined G1 is left as is).
            g0, g1 = plan.g0, plan.g1 if plan.g1 is not None else g1
            pos = end + 1
    return "".join(out)


def decode_text(raw: bytes, charsets: Sequence[str], vr: str) -> str:
    """Decode the bytes of a text value of VR `vr` under Specific Character Set `charsets`.

    Never raises: bytes that do not decode are replaced by U+FFFD, unknown terms fall back to
    the default repertoire.  VRs outside :data:`TEXT_VRS` ignore `charsets`.
    """
    if not raw:
        return ""
    if vr not in TEXT_VRS or not charsets:
        return raw.decode(_DEFAULT_DECODE)
    plan = _plan_for(charsets)
    codec = plan.decode_codec
    if codec is not None and (plan.standalone is not None or ESC not in raw):
        return raw.decode(codec, "replace")  # the common case: a single decode call
    if ESC not in raw:
        return _decode_run(raw, plan.g0, plan.g1)
    return _decode_2022(raw, plan, vr)


# -- Encoding --------------------------------------------------------------------------------

_ENCODE_DELIMITERS = {"PN": frozenset("\\^="), "SH": frozenset("\\"), "LO": frozenset("\\"),
                      "UC": frozenset("\\")}  # fmt: skip
_NO_DELIMITERS: frozenset[str] = frozenset()


def _encode_error(value: str, index: int, plan: _Plan) -> CharsetEncodeError:
    ch = value[index]
    terms = "\\".join(plan.terms) or "(default repertoire)"
    return CharsetEncodeError(
        f"cannot encode {ch!r} (U+{ord(ch):04X}) at position {index} of {value!r} "
        f"with Specific Character Set {terms!r}"
    )


def _encode_2022(value: str, plan: _Plan, vr: str) -> bytes:
    delimiters = _ENCODE_DELIMITERS.get(vr, _NO_DELIMITERS)
    init0, init1 = plan.g0, plan.g1
    g0, g1 = init0, init1
    out = bytearray()
    for index, ch in enumerate(value):
        if ch < "\x20" or ch in delimiters:
            # §6.1.2.5.3: the initial sets are active again before every delimiter.
            if g0 is not init0:
                out += init0.escape
            if init1 is not None and g1 is not init1:
                out += init1.escape
            g0, g1 = init0, init1
            out.append(ord(ch))
            continue
        for element in plan.elements:
            data = element.encode_char(ch)
            if data is not None:
                break
        else:
            raise _encode_error(value, index, plan)
        if element.g1:
            if element is not g1:
                out += element.escape
                g1 = element
        elif element is not g0:
            out += element.escape
            g0 = element
        out += data
    if g0 is not init0:
        out += init0.escape
    if init1 is not None and g1 is not init1:
        out += init1.escape
    return bytes(out)


def encode_text(value: str, charsets: Sequence[str], vr: str) -> bytes:
    """Encode a text value of VR `vr` under Specific Character Set `charsets`.

    With code extensions each character is written in the first listed set that has it,
    with the escape sequences PS3.5 requires.  Raises CharsetEncodeError for a character
    that none of the sets can encode.
    """
    if value.isascii():
        return value.encode("ascii")
    plan = _plan_for(charsets) if vr in TEXT_VRS else _plan_cached(())
    codec = plan.standalone or plan.encode_codec
    if codec is not None:
        try:
            return value.encode(codec)
        except UnicodeEncodeError as exc:
            if plan.standalone is not None:
                raise _encode_error(value, exc.start, plan) from exc
    return _encode_2022(value, plan, vr)
