"""The named conditions of the PS3.3 module tables (Type 1C/2C, usage C), every one evaluated.

``data/condition_expressions.tsv`` holds dicom3tools' ``condn.tpl`` (2024-12-20) as JSON
expression trees (``tools/gen_iod_tables.py``): a list of terms read left to right, each joined
to what precedes it by its ``op`` (``And``/``Or``, Or by default, as dicom3tools does) and
negated by ``not``; a term is a group (the template's parentheses) or a clause naming an
``Element`` and one test. The tests and where they look:

- ``ElementPresent`` (this data set), ``ElementPresentInRoot``, ``ElementPresentAbove`` (an
  enclosing data set), ``ElementPresentWithin=S`` (an item of sequence S here),
  ``ElementPresentInPathFromRoot[FirstItem]=S`` (the items, or first item, of S at the root),
  ``GroupPresent`` (any element of the element's group);
- ``ValuePresent``; ``StringValue``/``BinaryValue``/``TagValue`` with ``ValueSelector``
  (``*``: any value), also ``…FromRootAttribute`` / ``…FromRoot`` / ``…Above``;
- ``StringConstantFromRootAttribute``/``StringConstant``: a SOP Class UID, by PS3.6 keyword;
- ``SequenceHasItems``, ``SequenceHasOneItem``/``TwoItems``/``MultipleItems`` and
  ``SequencePresentInPathFromRoot[FirstItem]HasItems=S``.

:func:`holds` gives ``None`` only for a condition it cannot read (an unknown name or test);
the caller then does not require the attribute.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import tag_for_keyword
from dicomkit.core.uid import uid_for_keyword

DATA = Path(__file__).with_name("data") / "condition_expressions.tsv"

Term = dict[str, Any]


@functools.cache
def expressions() -> dict[str, list[Term]]:
    """Every named condition's expression, read on first use."""
    found: dict[str, list[Term]] = {}
    with open(DATA, encoding="utf-8") as table:
        next(table)
        for line in table:
            name, _, text = line.rstrip("\n").partition("\t")
            found[name] = json.loads(text)
    return found


Test = Callable[[Dataset, Dataset, Sequence[Dataset]], bool | None]
"""A compiled condition: ``test(dataset, root, parents)``, as :func:`holds` describes."""


def holds(name: str, dataset: Dataset, root: Dataset,
          parents: Sequence[Dataset] = ()) -> bool | None:
    """Whether the named condition holds for ``dataset`` (an item nested in ``parents``, the
    nearest last, under ``root``); ``None`` when it cannot be evaluated."""
    test = compiled(name)
    return None if test is None else test(dataset, root, parents)


@functools.cache
def compiled(name: str) -> Test | None:
    """The named condition as one Python function, built once from its expression: keywords
    resolved to tags, SOP Class keywords to UIDs, each clause's test and where it looks chosen
    here rather than on every evaluation (the validator asks hundreds of times per file).
    ``None`` for a name the table does not have."""
    terms = expressions().get(name)
    return None if terms is None else _compile_terms(terms, {}).test


@dataclass(frozen=True)
class _Compiled:
    """A compiled term. ``source``: the same test as a Python expression over ``d`` (the data
    set), ``r`` (the root) and ``p`` (the parents), naming functions of the namespace being
    built; ``None`` when the term can give ``None`` (then ``test`` is its only form)."""

    test: Test
    source: str | None
    always_none: bool = False


def _compile_terms(terms: list[Term], namespace: dict[str, Any]) -> _Compiled:
    """Terms read left to right: each joined to what precedes it by its ``op`` (Or unless
    And), negated by ``not``. A term that cannot be evaluated (``None``) makes the whole
    ``None``. When no term can give ``None``, the expression becomes one Python expression
    with ``and``/``or`` (the same value: clauses have no effects), compiled once."""
    if not terms:  # an empty expression (or group) does not hold
        return _Compiled(_never, "False")
    parts = [_compile_terms(term["group"], namespace) if "group" in term
             else _compile_clause(term, namespace) for term in terms]
    if any(part.always_none for part in parts):
        return _Compiled(_unknown, None, always_none=True)
    if any(part.source is None for part in parts):
        return _Compiled(_loop(tuple((bool(term.get("not")), term.get("op") == "And", part.test)
                                     for term, part in zip(terms, parts, strict=True))), None)
    expression = ""
    for index, (term, part) in enumerate(zip(terms, parts, strict=True)):
        operand = f"(not {part.source})" if term.get("not") else str(part.source)
        if index == 0:
            expression = operand
        else:
            joint = "and" if term.get("op") == "And" else "or"
            expression = f"({expression} {joint} {operand})"
    # The source holds only integer tags, "and"/"or"/"not", "in" and the c<n> names of the
    # namespace: nothing of the table's text is evaluated.
    test = eval(f"lambda d, r, p: {expression}", namespace)
    return _Compiled(test, expression)


def _loop(steps: tuple[tuple[bool, bool, Test], ...]) -> Test:
    """The evaluator of terms that may give ``None``: every term evaluated in turn."""
    def evaluate(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> bool | None:
        result = False
        first = True
        for negated, conjunction, test in steps:
            value = test(dataset, root, parents)
            if value is None:
                return None
            value = value != negated
            if first:
                result, first = value, False
            elif conjunction:
                result = result and value
            else:
                result = result or value
        return result
    return evaluate


def _named(test: Test, namespace: dict[str, Any]) -> str:
    """``test`` called in generated source (the function put in the namespace)."""
    name = f"c{sum(key.startswith('c') for key in namespace)}"
    namespace[name] = test
    return f"{name}(d, r, p)"


def _items(dataset: Dataset | None, tag: int | None) -> list[Dataset]:
    if dataset is None or tag is None or tag not in dataset:
        return []
    element = dataset.get(tag)
    if element.VR != "SQ":
        return []
    return [item for item in element.value if isinstance(item, Dataset)]


Sources = Callable[[Dataset, Dataset, Sequence[Dataset]], list[Dataset]]

_ITEM_SOURCES = (("ElementPresentWithin", False, False),
                 ("ElementPresentInPathFromRoot", True, False),
                 ("ElementPresentInPathFromRootFirstItem", True, True),
                 ("SequencePresentInPathFromRootHasItems", True, False),
                 ("SequencePresentInPathFromRootFirstItemHasItems", True, True))
_ROOT_SOURCES = ("ElementPresentInRoot", "StringValueFromRootAttribute",
                 "BinaryValueFromRootAttribute", "StringValueFromRoot",
                 "StringConstantFromRootAttribute")


def _where(term: Term) -> str:
    """Where a clause looks: ``d`` this data set, ``r`` the root, ``above`` the enclosing
    data sets (nearest first), ``items`` the items of a sequence here or at the root."""
    if any(key in term for key, _, _ in _ITEM_SOURCES):
        return "items"
    if any(key in term for key in _ROOT_SOURCES):
        return "r"
    if "ElementPresentAbove" in term or "StringValueAbove" in term:
        return "above"
    return "d"


def _item_sources(term: Term) -> Sources:
    key, from_root, first_only = next(found for found in _ITEM_SOURCES if found[0] in term)
    tag = tag_for_keyword(term[key])

    def items(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> list[Dataset]:
        found = _items(root if from_root else dataset, tag)
        return found[:1] if first_only else found
    return items


def _this(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> list[Dataset]:
    return [dataset]


def _root(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> list[Dataset]:
    return [root]


def _above(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> list[Dataset]:
    return list(reversed(parents))


def _meta_source(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> list[Dataset]:
    return [root.file_meta] if root.file_meta is not None else []


def _never(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> bool | None:
    return False


def _unknown(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> bool | None:
    return None


_STRING = ("StringValue", "StringValueFromRootAttribute", "StringValueFromRoot",
           "StringValueAbove")
_BINARY = ("BinaryValue", "BinaryValueFromRootAttribute")
_COUNTS = {"SequenceHasItems": (1, None), "SequenceHasOneItem": (1, 1),
           "SequenceHasTwoItems": (2, 2), "SequenceHasMultipleItems": (2, None),
           "SequencePresentInPathFromRootHasItems": (1, None),
           "SequencePresentInPathFromRootFirstItemHasItems": (1, None)}
_KNOWN = {"Element", "ValueSelector", "ElementPresent", "ElementPresentInRoot",
          "ElementPresentAbove", "ElementPresentWithin", "ElementPresentInPathFromRoot",
          "ElementPresentInPathFromRootFirstItem", "GroupPresent", "ValuePresent", "TagValue",
          "StringConstantFromRootAttribute", "StringConstant", "op", "not",
          *_STRING, *_BINARY, *_COUNTS}

ValueTest = Callable[[list[Any]], bool | None]


def _compile_clause(term: Term, namespace: dict[str, Any]) -> _Compiled:
    """One clause: where it looks and its test, settled once. A presence test in this data
    set or the root becomes ``tag in d`` / ``tag in r`` in the generated source."""
    if not _KNOWN.issuperset(term):
        return _Compiled(_unknown, None, always_none=True)
    tag = tag_for_keyword(term.get("Element", ""))
    if tag is None:
        return _Compiled(_unknown, None, always_none=True)
    where = "meta" if tag >> 16 == 2 else _where(term)  # dciodvfy reads File Meta too
    sources = {"meta": _meta_source, "d": _this, "r": _root, "above": _above}.get(where) \
        or _item_sources(term)
    if "GroupPresent" in term:
        group = tag >> 16

        def group_present(dataset: Dataset, root: Dataset,
                          parents: Sequence[Dataset]) -> bool | None:
            return any(t >> 16 == group for source in sources(dataset, root, parents)
                       for t in source.tags())
        return _Compiled(group_present, _named(group_present, namespace))
    value_test, may_be_none = _value_test(term)
    if value_test is None and where in ("d", "r"):
        present = _presence(tag, where == "r")
        return _Compiled(present, f"({tag} in {where})")
    test = _clause(tag, where, sources, value_test or _any_element)
    return _Compiled(test, None if may_be_none else _named(test, namespace))


def _presence(tag: int, in_root: bool) -> Test:
    if in_root:
        return lambda dataset, root, parents: tag in root
    return lambda dataset, root, parents: tag in dataset


def _any_element(present: list[Any]) -> bool | None:
    return True


def _clause(tag: int, where: str, sources: Sources, check: ValueTest) -> Test:
    """Find the element where the clause looks, then test what was found."""
    if where in ("d", "r"):
        from_root = where == "r"

        def one(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> bool | None:
            source = root if from_root else dataset
            return check([source[tag]]) if tag in source else False
        return one

    def every(dataset: Dataset, root: Dataset, parents: Sequence[Dataset]) -> bool | None:
        present = [source[tag] for source in sources(dataset, root, parents) if tag in source]
        return check(present) if present else False
    return every


def _value_test(term: Term) -> tuple[ValueTest | None, bool]:
    """The test a clause applies to the elements it found (at least one), ``None`` for a
    presence test; and whether it can give ``None`` (an unresolved SOP Class constant)."""
    counted = next((key for key in _COUNTS if key in term), None)
    if counted is not None:
        low, high = _COUNTS[counted]
        return (lambda present: any(
            e.VR == "SQ" and len(e.value) >= low and (high is None or len(e.value) <= high)
            for e in present)), False
    if "ValuePresent" in term:
        return (lambda present: any(_values(element) for element in present)), False
    selector = term.get("ValueSelector", "0")

    def chosen(present: list[Any]) -> list[Any]:
        return [v for element in present for v in _select(_values(element), selector)]
    string = next((key for key in _STRING if key in term), None)
    if string is not None:
        expected = term[string]
        return (lambda present: any(str(v).strip("\0 ") == expected
                                    for v in chosen(present))), False
    binary = next((key for key in _BINARY if key in term), None)
    if binary is not None:
        comparison, _, number = str(term[binary]).partition(" ")
        return (lambda present: any(_compare(v, comparison, number)
                                    for v in chosen(present))), False
    if "TagValue" in term:
        group_text, _, element_text = str(term["TagValue"]).partition(",")
        wanted = (int(group_text, 16) << 16) | int(element_text, 16)
        return (lambda present: any(int(v) == wanted for v in chosen(present)
                                    if isinstance(v, int))), False
    constant_key = next((key for key in ("StringConstantFromRootAttribute", "StringConstant")
                         if key in term), None)
    if constant_key is not None:
        constant = str(term[constant_key])
        if constant.startswith("?"):
            return (lambda present: None), True
        uid = uid_for_keyword(constant)
        return (lambda present: any(str(v).strip("\0 ") == uid
                                    for v in chosen(present))), False
    return None, False  # a presence test


def _values(element: Any) -> list[Any]:
    try:
        value = element.value
    except Exception:  # noqa: BLE001 - an undecodable value counts as no value
        return []
    if value is None or value == "" or value == b"":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _select(values: list[Any], selector: str) -> list[Any]:
    if selector == "*":
        return values
    index = int(selector or 0)
    return values[index:index + 1]


def _compare(value: Any, comparison: str, number: str) -> bool:
    if not number:  # dicom3tools writes BinaryValue="2" for equality too
        comparison, number = "==", comparison
    try:
        left, right = float(value), float(int(number, 0))
    except (TypeError, ValueError):
        return False
    return {"==": left == right, ">": left > right, "<": left < right,
            ">=": left >= right, "<=": left <= right, "!=": left != right}.get(comparison, False)
