#!/usr/bin/env bash
# Run the whole benchmark suite; each script's output is also saved in bench/out/<name>.txt.
# Environment: PYTHON (interpreter, default: python3), COUNT (series size, default 1000),
# REPEAT (timed passes of bench_read, default 7), RUNS (bench_startup runs, default 15),
# FRAMES (bench_memory frames, default 4000), WITH_COPIES=1 (bench_memory: also the cases that
# copy all ~2 GB of pixel data into memory), PROFILE=1 (bench_read: cProfile hotspots).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
COUNT="${COUNT:-1000}"
mkdir -p bench/out

run() {
    local name="$1"
    shift
    echo "=== $name: $*"
    "$PY" "$@" 2>&1 | tee "bench/out/$name.txt"
    echo
}

run make_ct_series bench/make_ct_series.py --out bench/data/ct --count "$COUNT"
run bench_read bench/bench_read.py --data bench/data/ct --repeat "${REPEAT:-7}" \
    ${PROFILE:+--profile}
run bench_startup bench/bench_startup.py --file bench/data/ct/CT00001.dcm --runs "${RUNS:-15}"
run bench_memory bench/bench_memory.py --frames "${FRAMES:-4000}" ${WITH_COPIES:+--with-copies}
