# cython: language_level=3
"""The compiled twin of :func:`dicomkit.web.qido.result_text` for a STUDY level match: the
result's DICOM JSON spliced from the stored texts of the patient and study (written by
``archive.records.dumps``: compact, keys unique), with no JSON decoded into Python objects.

Its pure twin is the general route itself (``ArchiveIndex`` merges the decoded attributes,
``result_text`` dumps them): for text that route would write back differently the splice
declines (None) and the general route answers, so the two give the same bytes. The scanner
accepts only what ``json.dumps(…, separators=(",", ":"), ensure_ascii=False)`` writes: no
whitespace, the escapes it uses, numbers it would write the same (checked by Python for
anything but a plain integer); every index is checked against the text's length."""

import json

cdef int MAX_DEPTH = 64


cdef inline bint digit(unsigned char c):
    return 48 <= c <= 57


cdef Py_ssize_t skip_string(const unsigned char[:] d, Py_ssize_t pos):
    """``pos`` at the opening quote; the position after the closing one, or -1."""
    cdef Py_ssize_t size = d.shape[0]
    cdef unsigned char c, h1, h2
    cdef int value
    pos += 1
    while pos < size:
        c = d[pos]
        if c == 34:  # "
            return pos + 1
        if c < 0x20:
            return -1
        if c == 92:  # backslash: only the escapes json.dumps writes
            if pos + 1 >= size:
                return -1
            c = d[pos + 1]
            if c in b'"\\nrtbf':
                pos += 2
                continue
            if c != 117 or pos + 5 >= size or d[pos + 2] != 48 or d[pos + 3] != 48:
                return -1
            h1 = d[pos + 4]
            h2 = d[pos + 5]
            if not (h1 == 48 or h1 == 49):
                return -1
            if digit(h2):
                value = (h1 - 48) * 16 + h2 - 48
            elif 97 <= h2 <= 102:
                value = (h1 - 48) * 16 + h2 - 87
            else:
                return -1
            if value == 8 or value == 9 or value == 10 or value == 12 or value == 13:
                return -1  # written as \b \t \n \f \r
            pos += 6
            continue
        pos += 1
    return -1


cdef Py_ssize_t skip_number(const unsigned char[:] d, Py_ssize_t pos):
    cdef Py_ssize_t size = d.shape[0]
    cdef Py_ssize_t start = pos, first
    cdef bint plain = True
    if pos < size and d[pos] == 45:  # -
        pos += 1
    first = pos
    if pos + 8 <= size and bytes(d[pos:pos + 8]) == b"Infinity":
        pos += 8
        plain = False
    else:
        while pos < size and (digit(d[pos]) or d[pos] in b".eE+-"):
            if not digit(d[pos]):
                plain = False
            pos += 1
    if pos == first:
        return -1
    if plain and (d[first] != 48 or pos - first == 1) and not (
            pos - start == 2 and d[start] == 45 and d[first] == 48):
        return pos  # -?(0|[1-9][0-9]*), not -0: json.dumps writes it so
    token = bytes(d[start:pos]).decode("ascii")
    try:
        if json.dumps(json.loads(token)) != token:
            return -1
    except ValueError:
        return -1
    return pos


cdef Py_ssize_t skip_value(const unsigned char[:] d, Py_ssize_t pos, int depth):
    """The position after the value at ``pos``, or -1 (not as json.dumps writes it)."""
    cdef Py_ssize_t size = d.shape[0]
    cdef unsigned char c, close
    if pos >= size or depth > MAX_DEPTH:
        return -1
    c = d[pos]
    if c == 34:
        return skip_string(d, pos)
    if c == 123 or c == 91:  # { [
        close = 125 if c == 123 else 93
        pos += 1
        if pos < size and d[pos] == close:
            return pos + 1
        while True:
            if c == 123:
                if pos >= size or d[pos] != 34:
                    return -1
                pos = skip_string(d, pos)
                if pos < 0 or pos >= size or d[pos] != 58:  # :
                    return -1
                pos += 1
            pos = skip_value(d, pos, depth + 1)
            if pos < 0 or pos >= size:
                return -1
            if d[pos] == close:
                return pos + 1
            if d[pos] != 44:  # ,
                return -1
            pos += 1
    if pos + 4 <= size and (bytes(d[pos:pos + 4]) == b"true"
                            or bytes(d[pos:pos + 4]) == b"null"):
        return pos + 4
    if pos + 5 <= size and bytes(d[pos:pos + 5]) == b"false":
        return pos + 5
    if pos + 3 <= size and bytes(d[pos:pos + 3]) == b"NaN":
        return pos + 3
    return skip_number(d, pos)


cdef dict members(bytes text):
    """The top-level members of a stored DICOM JSON object as key -> value text (the last
    of a repeated key, as json.loads), or None."""
    cdef const unsigned char[:] d = text
    cdef Py_ssize_t size = d.shape[0]
    cdef Py_ssize_t pos = 1, key_end, end
    out = {}
    if size < 2 or d[0] != 123:
        return None
    if d[1] == 125:
        return out if size == 2 else None
    while True:
        if pos >= size or d[pos] != 34:
            return None
        key_end = skip_string(d, pos)
        if key_end < 0 or key_end >= size or d[key_end] != 58:
            return None
        key = text[pos + 1:key_end - 1]
        if b"\\" in key:
            return None
        end = skip_value(d, key_end + 1, 1)
        if end < 0 or end >= size:
            return None
        out[key] = text[key_end + 1:end]
        if d[end] == 125:
            return out if end + 1 == size else None
        if d[end] != 44:
            return None
        pos = end + 1


cdef bytes jstr(str value):
    """``json.dumps(value, ensure_ascii=False)`` as UTF-8."""
    cdef Py_UCS4 c
    for c in value:
        if c < 0x20 or c == 34 or c == 92:
            return json.dumps(value, ensure_ascii=False).encode("utf-8")
    return b'"' + value.encode("utf-8", "strict") + b'"'


cdef bytes value_list(object stored, bytes vr):
    values = [v for v in (stored or "").split("\\") if v]
    if not values:
        return None
    return b'{"vr":"' + vr + b'","Value":[' + b",".join([jstr(v) for v in values]) + b"]}"


cdef dict COUNT_KEYS = {}


cdef bytes retrieve_url(dict merged, str study_uid, str prefix):
    """The Retrieve URL's value text, or None when the stored Study Instance UID is not the
    row's (the general route reads the stored value)."""
    stored = merged.get(b"0020000D")
    if stored is None:
        uid = ""
    elif stored == b'{"vr":"UI","Value":[' + jstr(study_uid) + b"]}":
        uid = study_uid
    else:
        return None
    return b'{"vr":"UR","Value":[' + jstr(prefix + uid) + b"]}"


def study_json(plan, str study_uid, str patient, str study, modalities, sop_classes,
               tuple count_tags, tuple counts):
    """One STUDY level match as ``result_text`` writes it (UTF-8), or None: the general
    route decides. ``plan``: :class:`dicomkit.web.qido.TextPlan`."""
    if len(count_tags) != len(counts):
        return None
    merged = members((patient or "{}").encode("utf-8", "strict"))
    if merged is None:
        return None
    study_members = members((study or "{}").encode("utf-8", "strict"))
    if study_members is None:
        return None
    merged.update(study_members)
    mods = value_list(modalities, b"CS")
    if mods is not None:
        merged[b"00080061"] = mods
    classes = value_list(sop_classes, b"UI")
    if classes is not None:
        merged[b"00080062"] = classes
    for tag, count in zip(count_tags, counts):
        key = COUNT_KEYS.get(tag)
        if key is None:
            key = COUNT_KEYS[tag] = ("%08X" % tag).encode("ascii")
        merged[key] = b'{"vr":"IS","Value":[' + str(int(count)).encode("ascii") + b"]}"
    if not plan.include_all:
        # The entries are in key order already (the output tags, sorted): no dict, no sort.
        pieces = []
        for key, kind, payload in plan.entries:
            if kind == 1:
                value = payload
            elif kind == 2:
                value = retrieve_url(merged, study_uid, payload)
                if value is None:
                    return None
            else:
                value = merged.get(key, payload)
                if value is None:
                    continue
            if key == b"00080005":
                continue
            if b'"BulkDataURI"' in value:
                return None
            pieces.append(b'"' + key + b'":' + value)
        return b"{" + b",".join(pieces) + b"}"
    out = dict(merged)
    for key, kind, payload in plan.entries:
        if kind == 1:
            out[key] = payload
        elif kind == 2:
            value = retrieve_url(merged, study_uid, payload)
            if value is None:
                return None
            out[key] = value
        elif key in merged:
            out[key] = merged[key]
        elif payload is not None:
            out[key] = payload
    out.pop(b"00080005", None)
    for value in out.values():
        if b'"BulkDataURI"' in value:
            return None
    return b"{" + b",".join([b'"' + key + b'":' + out[key] for key in sorted(out)]) + b"}"
