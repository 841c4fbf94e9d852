"""Readable text tables for the commands that list things (``dicomkit ls``, ``worklist ls``,
``mpps ls``, the C-FIND matches of ``findscu``): one home for the layout."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``headers`` above a rule of dashes above ``rows``, each column as wide as its widest
    cell, columns two spaces apart, no trailing spaces. Every row has one cell per header."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)
