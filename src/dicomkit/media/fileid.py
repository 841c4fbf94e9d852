"""PS3.10 §8.2, §8.5: File IDs, their components and where they point on disk.

A File ID is 1 to 8 components of 1 to 8 characters from A-Z, 0-9 and underscore (the
DICOM File Service's character subset, PS3.10 §8.5; PS3.12 for each medium). The DICOMDIR
holds it as a multi-valued CS, Referenced File ID (0004,1500). Resolving one never leaves the
File-set's root: no component may be ``..`` or empty, and none may be absolute (the character
rule forbids both; a lenient reader that accepts lower case still refuses them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dicomkit.media.errors import MediaError

MAX_COMPONENTS = 8
MAX_LENGTH = 8
COMPONENT = re.compile(r"[A-Z0-9_]{1,8}")
# What a reader accepts from media in the field (lower case seen on USB sticks, written by
# tools that map names); separators, dots and anything else are refused.
LENIENT_COMPONENT = re.compile(r"[A-Za-z0-9_]{1,8}")


def joined(parts: list[str] | tuple[str, ...]) -> str:
    """A File ID as the DICOMDIR writes it, components separated by backslashes."""
    return "\\".join(parts)


def is_valid_component(text: str) -> bool:
    """PS3.10 §8.5: 1-8 characters, upper-case letters, digits, underscore."""
    return COMPONENT.fullmatch(text) is not None


def check(components: list[str] | tuple[str, ...], *, strict: bool = True) -> tuple[str, ...]:
    """The File ID ``components`` when they follow PS3.10 §8.2/§8.5, else :class:`MediaError`
    naming the component at fault (``strict=False`` also accepts lower case, as read)."""
    pattern = COMPONENT if strict else LENIENT_COMPONENT
    parts = tuple(str(c).strip() for c in components)
    if not parts:
        raise MediaError("empty Referenced File ID")
    if len(parts) > MAX_COMPONENTS:
        raise MediaError(f"Referenced File ID {joined(parts)!r} has {len(parts)} components "
                         f"(at most {MAX_COMPONENTS})")
    for part in parts:
        if pattern.fullmatch(part) is None:
            raise MediaError(f"Referenced File ID {joined(parts)!r}: component {part!r} is not "
                             "1-8 characters of A-Z, 0-9, _ (PS3.10 §8.5)")
    return parts


def resolve(root: Path, components: list[str] | tuple[str, ...]) -> Path:
    """The path a File ID names under ``root``; never outside it. Media written on systems
    that fold case (ISO 9660 readers, FAT) may hold the file in another case: the existing
    name that matches ignoring case is taken."""
    parts = check(components, strict=False)
    path = root
    for part in parts:
        candidate = path / part
        if not candidate.exists() and path.is_dir():
            for name in os.listdir(path):
                if name.upper() == part.upper() or name.upper() == part.upper() + ".":
                    candidate = path / name
                    break
        path = candidate
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise MediaError(f"Referenced File ID {joined(parts)!r} leads outside the File-set "
                         f"root {root} (through a link)")
    return path


def components_of(root: Path, path: Path) -> tuple[str, ...] | None:
    """The File ID of ``path`` under ``root`` when its relative path is already one (PS3.10
    §8.5), else None."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    parts = relative.parts
    if 0 < len(parts) <= MAX_COMPONENTS and all(is_valid_component(p) for p in parts):
        return tuple(parts)
    return None
