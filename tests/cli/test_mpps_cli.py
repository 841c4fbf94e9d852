"""``dicomkit mpps create | set | ls`` against a real ``dicomkit serve``, both index back ends:
the UID printed, exit statuses scripts can trust, the listing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.databases import Backend
from tests.support.datasets import make_instance, write_instance
from tests.support.servers import ServeFactory, serve_env


def dk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *args],
                          capture_output=True, text=True, env=serve_env(), timeout=120)


def test_create_set_ls(backend: Backend, serve: ServeFactory, tmp_path: Path):
    index = backend.new_index()
    server = serve(tmp_path / "data", index=index, args=["--no-http"])
    address = ["127.0.0.1", str(server.port), "--aec", "PACS", "--aet", "CT1"]
    item = tmp_path / "item.json"
    item.write_text(json.dumps([{
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00100020": {"vr": "LO", "Value": ["PID7"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3.4.5"]},
        "00080050": {"vr": "SH", "Value": ["ACC7"]},
        "00401001": {"vr": "SH", "Value": ["RP7"]},
        "00400100": {"vr": "SQ", "Value": [{"00400009": {"vr": "SH", "Value": ["SPS7"]},
                                            "00080060": {"vr": "CS", "Value": ["MR"]}}]}}]))
    created = dk("mpps", "create", *address, "--from-worklist", str(item))
    assert created.returncode == 0, created.stderr + server.log_tail()
    uid = created.stdout.strip()
    assert uid.startswith("2.25.")
    refused = dk("mpps", "set", *address, uid, "--status", "COMPLETED")
    assert refused.returncode == 1 and "0x0121" in refused.stderr
    image = write_instance(make_instance(), tmp_path / "images")
    done = dk("mpps", "set", *address, uid, "--status", "COMPLETED", "--series-from",
              str(image))
    assert done.returncode == 0, done.stderr
    again = dk("mpps", "set", *address, uid, "--status", "DISCONTINUED", "--series-from",
               str(image))
    assert again.returncode == 1 and "A710" in again.stderr
    assert server.stop() == 0
    location = ["--data", str(tmp_path / "data")] + (["--index", index] if index else [])
    listed = dk("mpps", "ls", "--json", *location)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert (entry["sop_uid"], entry["status"], entry["modality"], entry["patient_id"],
            entry["accession_number"], entry["station_ae"]) == \
        (uid, "COMPLETED", "MR", "PID7", "ACC7", "CT1")
    table = dk("mpps", "ls", *location, "--status", "completed")
    assert uid in table.stdout


def test_usage_errors_exit_2(tmp_path: Path):
    assert dk("mpps", "ls", "--data", str(tmp_path), "--date", "tomorrow").returncode == 2
    assert dk("mpps", "set", "127.0.0.1", "1", "1.2.3").returncode == 2  # nothing to set
    missing = dk("mpps", "create", "127.0.0.1", "1", "--from-worklist", str(tmp_path / "no"))
    assert missing.returncode == 2 and "--from-worklist" in missing.stderr
    assert dk("mpps").returncode == 2


def test_no_peer_exits_1():
    result = dk("mpps", "create", "127.0.0.1", "1", "--timeout", "5")
    assert result.returncode == 1 and "cannot connect" in result.stderr
