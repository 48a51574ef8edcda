#!/usr/bin/env bash
# Runs every fuzz target for a long time: fuzz/run-long.sh [SECONDS] [TARGET...]
# SECONDS per target (default 600), two targets at a time on 2 cores (-j: fuzz/run.sh). The
# corpus of each target is kept and grows in build-fuzz/fuzz-corpus/TARGET across runs, so
# every long run starts where the last one stopped; findings land in build-fuzz/fuzz-artifacts.
# docs/fuzzing.md says how to replay and minimise one.
set -uo pipefail

SECS=${1:-600}
[[ $SECS =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run-long.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
exec "$(dirname "$0")/run.sh" -t "$SECS" -k "$@"
