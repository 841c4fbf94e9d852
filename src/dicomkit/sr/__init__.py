"""Structured Reporting (PS3.3 C.17, C.18, A.35; PS3.16): build, check, write, read and
render SR content trees.

```python
from dicomkit.sr import Code, ContentItem, document, read
root = ContentItem.container(Code("126000", "DCM", "Imaging Measurement Report"))
root.add("CONTAINS", ContentItem.text(Code("121071", "DCM", "Finding"), "No change."))
ds = document(root, iod="Comprehensive", like=ct_instance)   # a whole SR instance
tree = read("report.dcm")                                     # the root ContentItem
```

See docs/objects.md ("Structured reports") and docs/design/sr.md.
"""

from __future__ import annotations

from dicomkit.iod.codes import Code
from dicomkit.sr.constraints import SRIOD, check, iod_named, iods
from dicomkit.sr.content import (
    RELATIONSHIPS,
    VALUE_TYPES,
    ContentItem,
    NumericValue,
    Reference,
    Scoord,
    Scoord3D,
    Tcoord,
)
from dicomkit.sr.document import document, load, read
from dicomkit.sr.errors import SRError, SRWarning
from dicomkit.sr.render import render_html, render_text

__all__ = [
    "RELATIONSHIPS", "SRIOD", "VALUE_TYPES", "Code", "ContentItem", "NumericValue",
    "Reference", "SRError", "SRWarning", "Scoord", "Scoord3D", "Tcoord", "check", "document",
    "iod_named", "iods", "load", "read", "render_html", "render_text",
]
