#!/usr/bin/env bash
# Builds the fuzz targets with clang (ASan + UBSan + libFuzzer), writes their seeds and runs
# each one; docs/fuzzing.md. Exits non-zero if any target finds something.
#
#   fuzz/run.sh                  short run, as scripts/test.sh does: a fixed number of runs
#                                per target (about 100 s in all on 2 cores), fresh corpus
#   fuzz/run.sh -t SECONDS -k    SECONDS per target, corpus kept in BUILD/fuzz-corpus/TARGET
#                                (fuzz/run-long.sh)
#   fuzz/run.sh fuzz_config ...  only these targets
#
# Options: -b BUILD_DIR (default build-fuzz), -t SECONDS, -k (keep and grow the corpus),
# -j JOBS (targets run at once; default: the number of CPUs), -n (no build).
# Findings land in BUILD/fuzz-artifacts as TARGET-crash-*, -leak-*, -timeout-*; replay one with
#   BUILD/fuzz/TARGET BUILD/fuzz-artifacts/FILE      (TG_FUZZ_TRACE=1 for the stackd targets)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-fuzz
SECONDS_EACH=
KEEP=0
JOBS=$(nproc)
NO_BUILD=0

# Runs per target in the short mode, two targets at a time: about 100 s in all on the
# reference machine (2 cores), the stackd targets getting most; -max_total_time caps each on a
# slower machine.
declare -A RUNS=(
	[fuzz_stackd_input]=16000
	[fuzz_stackd_link]=10000
	[fuzz_stackd_tap]=10000
	[fuzz_link_desc]=60000
	[fuzz_socks5]=400000
	[fuzz_socks5_udp]=300000
	[fuzz_config]=300000
	[fuzz_stats]=100000
	[fuzz_vnet]=200000
)
ALL=(fuzz_stackd_input fuzz_stackd_link fuzz_stackd_tap fuzz_link_desc fuzz_socks5 fuzz_socks5_udp
	fuzz_config fuzz_stats fuzz_vnet)
SHORT_CAP=40

while getopts "b:t:kj:n" opt; do
	case $opt in
	b) BUILD=$(realpath -m "$OPTARG") ;;
	t) SECONDS_EACH=$OPTARG ;;
	k) KEEP=1 ;;
	j) JOBS=$OPTARG ;;
	n) NO_BUILD=1 ;;
	*) sed -n '2,16p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
TARGETS=("${@:-${ALL[@]}}")
for t in "${TARGETS[@]}"; do
	[[ -n ${RUNS[$t]:-} ]] || { echo "fuzz/run.sh: unknown target $t" >&2; exit 2; }
done

if ((!NO_BUILD)); then
	command -v clang >/dev/null || { echo "fuzz/run.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
	mkdir -p "$BUILD"
	CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_FUZZ=ON \
		-DTG_TESTS=OFF >"$BUILD/fuzz-configure.log" 2>&1 ||
		{ cat "$BUILD/fuzz-configure.log" >&2; echo "fuzz/run.sh: configure failed" >&2; exit 1; }
	cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" >"$BUILD/fuzz-build.log" 2>&1 ||
		{ tail -40 "$BUILD/fuzz-build.log" >&2; echo "fuzz/run.sh: build failed" >&2; exit 1; }
fi

SEEDS=$BUILD/fuzz-seeds
ART=$BUILD/fuzz-artifacts
LOGS=$BUILD/fuzz-logs
mkdir -p "$ART" "$LOGS"
python3 "$ROOT/fuzz/make-seeds.py" "$SEEDS" || exit 1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

run_one() {
	local t=$1 corpus args
	if ((KEEP)); then
		corpus=$BUILD/fuzz-corpus/$t
	else
		corpus=$WORK/$t
	fi
	mkdir -p "$corpus"
	args=(-artifact_prefix="$ART/$t-" -timeout=30 -print_final_stats=1)
	if [[ -n $SECONDS_EACH ]]; then
		args+=(-max_total_time="$SECONDS_EACH")
	else
		args+=(-runs="${RUNS[$t]}" -max_total_time="$SHORT_CAP" -seed=1)
	fi
	[[ $t == fuzz_config ]] && args+=(-dict="$SEEDS/config.dict")
	# New inputs go to the first directory; the seeds stay as written.
	"$BUILD/fuzz/$t" "${args[@]}" "$corpus" "$SEEDS/$t" >"$LOGS/$t.log" 2>&1
}

report() {
	local t=$1 rc=$2 done_line
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$LOGS/$t.log" | tail -1)
	if ((rc == 0)); then
		echo "fuzz: $t: ok: ${done_line:-no DONE line}"
		return 0
	fi
	echo "fuzz: $t: FOUND SOMETHING (exit $rc); log $LOGS/$t.log:" >&2
	grep -E 'ERROR|SUMMARY|invariant|Test unit written|^    #[0-9]+ ' "$LOGS/$t.log" | head -30 >&2
	return 1
}

start=$SECONDS
failed=0
pids=()
names=()
for t in "${TARGETS[@]}"; do
	while ((${#pids[@]} >= JOBS)); do
		wait "${pids[0]}"
		report "${names[0]}" $? || failed=1
		pids=("${pids[@]:1}")
		names=("${names[@]:1}")
	done
	run_one "$t" &
	pids+=($!)
	names+=("$t")
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}"
	report "${names[$i]}" $? || failed=1
done
echo "fuzz: ${#TARGETS[@]} targets in $((SECONDS - start)) s (artifacts: $ART)"
exit $failed
