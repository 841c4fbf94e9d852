"""Finding a template's rows among a content item's children, for parsing documents back into
template objects. Parsing is by concept name and value type (PS3.16 §6.1: a row is identified
by its relationship, value type and concept name), so rows the templates allow but these
classes do not model are skipped, and missing mandatory rows raise :class:`TemplateError`
naming the place in the tree."""

from __future__ import annotations

from typing import Any

from dicomkit.iod.codes import Code
from dicomkit.sr import ContentItem
from dicomkit.sr.templates.concepts import same
from dicomkit.sr.templates.valuesets import TemplateError

Items = ContentItem | list[ContentItem]
"""A content item (its children are searched) or a list of sibling items."""


def children(parent: Items, name: Code | None = None, value_type: str | None = None,
             relationship: str | None = None) -> list[ContentItem]:
    """The children of ``parent`` with this concept name, value type and relationship."""
    items = parent if isinstance(parent, list) else parent.children
    return [child for child in items
            if (name is None or same(child.concept_name, name))
            and (value_type is None or child.value_type == value_type)
            and (relationship is None or child.relationship == relationship)]


def optional(parent: Items, name: Code, value_type: str, where: str) -> ContentItem | None:
    """The one child with this concept name; None when absent; an error when several or when
    it has another value type."""
    found = children(parent, name)
    if not found:
        return None
    if len(found) > 1:
        raise TemplateError(f"{where}: {len(found)} items {name.meaning!r}, the template "
                            "allows one")
    item = found[0]
    if item.value_type != value_type:
        raise TemplateError(f"{where}: {name.meaning!r} is {item.value_type}, the template "
                            f"row is {value_type}")
    return item


def required(parent: Items, name: Code, value_type: str, where: str) -> ContentItem:
    """The one child with this concept name; an error naming the row when absent."""
    item = optional(parent, name, value_type, where)
    if item is None:
        raise TemplateError(f"{where}: no {value_type} {name} (the template requires it)")
    return item


def value(parent: Items, name: Code, value_type: str, where: str) -> Any:
    """The value of the optional child with this concept name (None when absent)."""
    item = optional(parent, name, value_type, where)
    return None if item is None else item.value


def texts(parent: Items, name: Code) -> list[str]:
    return [str(child.value) for child in children(parent, name, "TEXT")]


def codes(parent: Items, name: Code) -> list[Code]:
    return [child.value for child in children(parent, name, "CODE")]


def described(item: ContentItem) -> str:
    """A short name of a content item for error messages."""
    name = item.concept_name
    return f"{item.value_type} {name.meaning!r}" if name is not None else item.value_type
