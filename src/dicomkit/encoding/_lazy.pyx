# cython: language_level=3
"""The compiled twins of :mod:`dicomkit.encoding.lazy`: :func:`materialize` (an indexed
``(vr, offset, length, undefined)`` entry becomes a DataElement when first used), and
:func:`iterate` and :func:`walk` (``iter(ds)`` and ``ds.walk()``) as iterator objects rather
than generators, making each element here in C.

The common case (a VR that is settled: not UN, not SQ, not a multi-VR dictionary entry) is
done here, the element's slots filled directly and its Tag shared between data sets; the
others (UN read with the dictionary's VR, sequences, VRs resolved from the data set, PS3.5
§6.2.2 and A.1) go to the pure function, so the elements are the same.
tests/native/test_values.py and test_iteration.py compare the twins.
"""

from types import MemberDescriptorType

from dicomkit.core.element import DataElement, _UNSET
from dicomkit.core.tag import Tag
from dicomkit.core.vr import TEXT_VRS


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        pass
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

cdef extern from "Python.h":
    ctypedef struct PyTypeObject:
        pass
    object PyType_GenericAlloc(PyTypeObject* kind, Py_ssize_t items)

cdef extern from "structmember.h":
    int PyMember_SetOne(char* address, PyMemberDef* member, object value) except -1


cdef PyMemberDef* _slot(name) except NULL:
    """The C description of DataElement's slot ``name`` (its offset in the object), which
    ``type(element).name.__set__`` would use: set here without looking the name up."""
    descriptor = DataElement.__dict__[name]
    if type(descriptor) is not MemberDescriptorType:
        raise ImportError(f"DataElement.{name} is not a slot")
    return (<PyMemberDescrObject*><void*>descriptor).d_member


cdef type _ELEMENT_TYPE = DataElement
if DataElement.__new__ is not object.__new__:
    raise ImportError("DataElement has its own __new__: _new_element would not call it")
cdef PyMemberDef* _TAG_SLOT = _slot("tag")
cdef PyMemberDef* _VR_SLOT = _slot("VR")
cdef PyMemberDef* _VALUE_SLOT = _slot("_value")
cdef PyMemberDef* _RAW_SLOT = _slot("raw")
cdef PyMemberDef* _LITTLE_SLOT = _slot("little")
cdef PyMemberDef* _CHARSETS_SLOT = _slot("charsets")
cdef PyMemberDef* _UNDEFINED_SLOT = _slot("is_undefined_length")

cdef object _UNSET_VALUE = _UNSET
cdef frozenset _TEXT_VRS = frozenset(TEXT_VRS)
cdef object _new_int = int.__new__
cdef object _pure = None
cdef object _END = object()

# Tags made once and shared (a Tag is an immutable int): at most this many, so a hostile file
# with ever new tags cannot grow the table without bound.
cdef dict _TAGS = {}
cdef Py_ssize_t _TAGS_KEPT = 4096


cdef object _tag(object tag):
    made = _TAGS.get(tag)
    if made is None:
        made = _new_int(Tag, tag)
        if len(_TAGS) < _TAGS_KEPT:
            _TAGS[tag] = made
    return made


cdef object _materialize(ds, dict attributes, tag, tuple entry):
    """The element of ``entry``; ``attributes`` is ``ds.__dict__`` (where ``ds.buffer``,
    ``ds.is_little_endian`` and the cached ``ds.charsets`` are read from, without a property
    call each)."""
    global _pure
    cdef Py_ssize_t offset, length
    cdef char* address
    vr, offset, length, undefined = entry
    if vr == "UN" or vr == "SQ" or " or " in vr:
        if _pure is None:
            from dicomkit.encoding.lazy import materialize as pure
            _pure = pure
        return _pure(ds, tag, entry)
    buf = attributes["_buf"]
    if isinstance(buf, bytes):
        raw = buf[offset : offset + length]
    else:
        raw = memoryview(buf)[offset : offset + length]
        if length < 4096:
            raw = bytes(raw)
    little = bool(attributes["_little"])
    # Specific Character Set itself is never decoded with a character set (see lazy.py).
    if vr in _TEXT_VRS and tag != 0x00080005:
        charsets = attributes["_charsets_cache"]
        if charsets is None:
            charsets = ds.charsets
    else:
        charsets = ()
    element = _new_element()
    address = <char*><void*>element
    PyMember_SetOne(address, _TAG_SLOT, _tag(tag))
    PyMember_SetOne(address, _VR_SLOT, vr)
    PyMember_SetOne(address, _VALUE_SLOT, _UNSET_VALUE)
    PyMember_SetOne(address, _RAW_SLOT, raw)
    PyMember_SetOne(address, _LITTLE_SLOT, little)
    PyMember_SetOne(address, _CHARSETS_SLOT, charsets)
    PyMember_SetOne(address, _UNDEFINED_SLOT, undefined)
    return element


cdef object _new_element():
    """``object.__new__(DataElement)``: what object.__new__ does for it (DataElement has
    neither __init__ to skip nor arguments to check), without a Python call."""
    return PyType_GenericAlloc(<PyTypeObject*>_ELEMENT_TYPE, 0)


def materialize(ds, tag, entry):
    """Same as :func:`dicomkit.encoding.lazy.materialize`."""
    return _materialize(ds, ds.__dict__, tag, entry)


cdef class _Elements:
    """``iter(ds)``: the twin of :func:`dicomkit.encoding.lazy.iterate`."""

    cdef object ds
    cdef list tags
    cdef dict elements
    cdef dict attributes
    cdef Py_ssize_t position
    cdef bint started

    def __cinit__(self, ds):
        self.ds = ds

    def __iter__(self):
        return self

    def __next__(self):
        cdef object tag, entry
        if not self.started:  # a generator takes the tags at its first step, not before
            self.started = True
            try:
                self.tags = self.ds.tags()
                self.elements = self.ds._elements
                self.attributes = self.ds.__dict__
            except BaseException:
                self.tags = None
                raise
        if self.tags is None or self.position >= len(self.tags):
            self.tags = None
            raise StopIteration
        tag = self.tags[self.position]
        self.position += 1
        entry = self.elements.get(tag)
        try:
            if entry is None:  # deleted while iterating (or the index re-sorted): as ds[tag]
                entry = self.ds[tag]
            elif type(entry) is tuple:
                entry = _materialize(self.ds, self.attributes, tag, entry)
                self.elements[tag] = entry
        except BaseException:  # a generator that raised is finished
            self.tags = None
            raise
        return entry


def iterate(ds):
    """Same as :func:`dicomkit.encoding.lazy.iterate`."""
    return _Elements(ds)


cdef class _Walk:
    """``ds.walk()``: the twin of :func:`dicomkit.encoding.lazy.walk`."""

    cdef object ds
    cdef object elements  # iter(ds), made at the first step
    cdef object pending  # the element given last at depth 0: its items come next
    cdef object items  # iter(sequence value) of that element
    cdef object inner  # item.walk() of the current item
    cdef bint done

    def __cinit__(self, ds):
        self.ds = ds

    def __iter__(self):
        return self

    def __next__(self):
        if self.done:
            raise StopIteration
        try:
            found = self._step()
        except BaseException:  # finished, as a generator that raised is
            self._finish()
            raise
        if found is _END:  # said without an exception object: the end of every walk
            self._finish()
            raise StopIteration
        return found

    cdef _finish(self):
        self.done = True
        self.elements = self.pending = self.items = self.inner = None

    cdef object _step(self):
        while True:
            if self.inner is not None:
                found = next(self.inner, _END)
                if found is not _END:
                    depth, element = found
                    return (depth + 1, element)
                self.inner = None
            if self.items is not None:
                item = next(self.items, _END)
                if item is _END:
                    self.items = None
                else:
                    self.inner = item.walk()
                continue
            if self.pending is not None:
                element = self.pending
                self.pending = None
                if element.VR == "SQ":
                    self.items = iter(element.value)
                continue
            if self.elements is None:
                self.elements = iter(self.ds)
            element = next(self.elements, _END)
            if element is _END:
                return _END
            self.pending = element
            return (0, element)


def walk(ds):
    """Same as :func:`dicomkit.encoding.lazy.walk`."""
    return _Walk(ds)
