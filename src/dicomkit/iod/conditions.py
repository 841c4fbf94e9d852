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
from collections.abc import Sequence
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


def holds(name: str, dataset: Dataset, root: Dataset,
          parents: Sequence[Dataset] = ()) -> bool | None:
    """Whether the named condition holds for ``dataset`` (an item nested in ``parents``, the
    nearest last, under ``root``); ``None`` when it cannot be evaluated."""
    terms = expressions().get(name)
    if terms is None:
        return None
    return _evaluate(terms, dataset, root, parents)


def _evaluate(terms: list[Term], dataset: Dataset, root: Dataset,
              parents: Sequence[Dataset]) -> bool | None:
    result = False
    for index, term in enumerate(terms):
        if "group" in term:
            value = _evaluate(term["group"], dataset, root, parents)
        else:
            value = _clause(term, dataset, root, parents)
        if value is None:
            return None
        value = value != bool(term.get("not"))
        if index == 0:
            result = value
        elif term.get("op") == "And":
            result = result and value
        else:
            result = result or value
    return result


def _items(dataset: Dataset | None, keyword: str) -> list[Dataset]:
    if dataset is None:
        return []
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in dataset:
        return []
    element = dataset.get(tag)
    if element.VR != "SQ":
        return []
    return [item for item in element.value if isinstance(item, Dataset)]


def _sources(term: Term, dataset: Dataset, root: Dataset,
             parents: Sequence[Dataset]) -> list[Dataset]:
    if "ElementPresentWithin" in term:
        return _items(dataset, term["ElementPresentWithin"])
    if "ElementPresentInPathFromRoot" in term:
        return _items(root, term["ElementPresentInPathFromRoot"])
    if "ElementPresentInPathFromRootFirstItem" in term:
        return _items(root, term["ElementPresentInPathFromRootFirstItem"])[:1]
    if "SequencePresentInPathFromRootHasItems" in term:
        return _items(root, term["SequencePresentInPathFromRootHasItems"])
    if "SequencePresentInPathFromRootFirstItemHasItems" in term:
        return _items(root, term["SequencePresentInPathFromRootFirstItemHasItems"])[:1]
    if any(key in term for key in ("ElementPresentInRoot", "StringValueFromRootAttribute",
                                   "BinaryValueFromRootAttribute", "StringValueFromRoot",
                                   "StringConstantFromRootAttribute")):
        return [root]
    if "ElementPresentAbove" in term or "StringValueAbove" in term:
        return list(reversed(parents))
    return [dataset]


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


def _clause(term: Term, dataset: Dataset, root: Dataset,
            parents: Sequence[Dataset]) -> bool | None:
    if not _KNOWN.issuperset(term):
        return None
    tag = tag_for_keyword(term.get("Element", ""))
    if tag is None:
        return None
    sources = _sources(term, dataset, root, parents)
    if tag >> 16 == 2:  # File Meta elements (Transfer Syntax UID): dciodvfy reads them too
        sources = [root.file_meta] if root.file_meta is not None else []
    if "GroupPresent" in term:
        group = tag >> 16
        return any(t >> 16 == group for source in sources for t in source.tags())
    present = [source.get(tag) for source in sources if tag in source]
    if not present:
        return False
    for key, (low, high) in _COUNTS.items():
        if key in term:
            return any(e.VR == "SQ" and len(e.value) >= low and (high is None
                       or len(e.value) <= high) for e in present)
    values = [_values(element) for element in present]
    if "ValuePresent" in term:
        return any(values)
    selector = term.get("ValueSelector", "0")
    chosen = [v for vs in values for v in _select(vs, selector)]
    for key in _STRING:
        if key in term:
            return any(str(v).strip("\0 ") == term[key] for v in chosen)
    for key in _BINARY:
        if key in term:
            comparison, _, number = str(term[key]).partition(" ")
            return any(_compare(v, comparison, number) for v in chosen)
    if "TagValue" in term:
        group_text, _, element_text = str(term["TagValue"]).partition(",")
        wanted = (int(group_text, 16) << 16) | int(element_text, 16)
        return any(int(v) == wanted for v in chosen if isinstance(v, int))
    for key in ("StringConstantFromRootAttribute", "StringConstant"):
        if key in term:
            constant = str(term[key])
            if constant.startswith("?"):
                return None
            return any(str(v).strip("\0 ") == uid_for_keyword(constant) for v in chosen)
    return True  # a presence test


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
