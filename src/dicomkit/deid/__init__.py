"""De-identification: the Basic Application Level Confidentiality Profile of PS3.15 Annex E and
every option of Table E.1-1, driven by the table itself (generated from the standard).

- :func:`deidentify` ``(ds, options, key=...) -> (Dataset, Report)``: one data set;
- :class:`Deidentifier`: the same for many data sets with one key and one set of options;
- :func:`run_batch`: files and folders, in worker processes, one output per input;
- :data:`OPTIONS`: the option names (``retain-safe-private`` … ``clean-visual-features``);
- :class:`Rules`: the Clean Pixel Data region rules (TOML or JSON).

See docs/deidentification.md and docs/design/deid.md.
"""

from __future__ import annotations

from dicomkit.deid.batch import BatchResult, run_batch
from dicomkit.deid.keys import Keys
from dicomkit.deid.pixels import Rules, RulesError
from dicomkit.deid.profile import Deidentifier, deidentify
from dicomkit.deid.report import Change, DeidError, Report
from dicomkit.deid.table import OPTIONS, OptionError

__all__ = ["OPTIONS", "BatchResult", "Change", "DeidError", "Deidentifier", "Keys",
           "OptionError", "Report", "Rules", "RulesError", "deidentify", "run_batch"]
