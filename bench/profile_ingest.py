"""Where the server's CPU goes while DCMTK storescu stores N small CT into dicomkit serve
(SQLite, fsync): CPU per thread from /proc (Linux), and with --profile a cProfile of the
server's main (event-loop) thread written to bench/out/serve.prof.

  python bench/profile_ingest.py [N] [--profile] [--folder bench/data/ct]
"""
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # noqa: E402

_util.use_checkout()

import _archive_support as S  # noqa: E402
import bench_archive as A  # noqa: E402

PROFILE = str(_util.OUT / "serve.prof")

N = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
prof = "--profile" in sys.argv
if "--folder" in sys.argv:  # an existing folder of files instead (e.g. bench/data/ct)
    folder = Path(sys.argv[sys.argv.index("--folder") + 1])
    N = len(list(folder.iterdir()))
else:
    folder = A.write_series(Path(tempfile.mkdtemp()) / "s", N, tag="PRF")
TICK = os.sysconf("SC_CLK_TCK")

def threads(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{t}/comm").read().strip()
            f = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
            out[(t, comm)] = (int(f[11]) + int(f[12])) / TICK
        except OSError:
            pass
    return out

class Prof(S.DicomkitServe):
    def command(self):
        cmd = super().command()
        if prof:
            _util.OUT.mkdir(parents=True, exist_ok=True)
            i = cmd.index("-m")
            cmd[i:i+2] = ["-m", "cProfile", "-o", PROFILE, "-m", "dicomkit.cli.main"]
        return cmd

srv = Prof(None, True).start()
try:
    time.sleep(1)
    pid = srv.proc.pid
    before = threads(pid)
    t0 = time.perf_counter()
    secs, err = S.storescu(srv, str(folder))
    assert not err, err
    time.sleep(0.5)
    after = threads(pid)
    total = 0.0
    print(f"{N} instances in {secs:.2f} s = {N/secs:.0f} inst/s")
    rows = {}
    for k, v in after.items():
        d = v - before.get(k, 0.0)
        rows[k[0] + " " + k[1]] = rows.get(k[0] + " " + k[1], 0.0) + d
        total += d
    for name, d in sorted(rows.items(), key=lambda x: -x[1]):
        if d > 0:
            print(f"  thread {name:20s} {d:6.2f} s  {1000*d/N:6.3f} ms/instance")
    print(f"  server total          {total:6.2f} s  {1000*total/N:6.3f} ms/instance")
finally:
    srv.stop()
