"""``dicomkit serve -v``: dicomkit's own loggers at DEBUG (and only them), as ``--help`` says;
DCMTK's echoscu makes the server log something."""

from __future__ import annotations

from pathlib import Path

from tests.support.dcmtk import run_tool
from tests.support.servers import ServeFactory


def test_one_v_logs_dicomkit_at_debug(serve: ServeFactory, tmp_path: Path,
                                      dcmtk_net: dict[str, str]) -> None:
    quiet = serve(tmp_path / "quiet")
    verbose = serve(tmp_path / "verbose", args=["-v"])
    for server in (quiet, verbose):
        run_tool("echoscu", "-aec", server.aet, "127.0.0.1", server.port)
    assert quiet.stop() == 0 and verbose.stop() == 0
    assert " DEBUG dicomkit" in verbose.log(), verbose.log_tail()
    assert " DEBUG " not in quiet.log(), quiet.log_tail()
    # only dicomkit's loggers go to DEBUG
    assert not [line for line in verbose.log().splitlines()
                if " DEBUG " in line and " DEBUG dicomkit" not in line]


def test_help_describes_v(serve: ServeFactory) -> None:
    import subprocess
    import sys

    from tests.support.servers import serve_env

    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "serve", "--help"],
                            capture_output=True, text=True, env=serve_env(), check=True)
    assert "-v, --verbose" in result.stdout
    assert "DEBUG" in result.stdout.split("-v, --verbose", 1)[1].split("\n  -", 1)[0]
