"""Run one fuzz target under atheris (libFuzzer): ``python -m tests.fuzz.run TARGET [libFuzzer
options] [corpus dirs]``.

dicomkit is imported inside ``atheris.instrument_imports`` so that its code is coverage
instrumented. Before fuzzing starts the address space is capped at what the process already
uses plus ``DICOMKIT_FUZZ_AS_MB`` (default 1024) MiB, so an allocation sized by an untrusted
length raises ``MemoryError`` at once (a crash: it is not a documented error) instead of
swapping; libFuzzer's ``-rss_limit_mb`` and ``-timeout`` catch slow growth and hangs.
``tools/fuzz.py`` drives this for every target.
"""

from __future__ import annotations

import importlib
import os
import resource
import sys

import atheris


def _virtual_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str]) -> None:
    from tests.fuzz import TARGETS

    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer args]")
    with atheris.instrument_imports(include=["dicomkit"]):
        module = importlib.import_module(TARGETS[argv[1]])
    headroom = int(os.environ.get("DICOMKIT_FUZZ_AS_MB", "1024")) << 20
    if headroom > 0:
        limit = _virtual_bytes() + headroom
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    atheris.Setup([argv[0], *argv[2:]], module.TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
