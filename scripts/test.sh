#!/usr/bin/env bash
# The whole test suite, as CI runs it: sudo scripts/test.sh
#   1. scripts/install-deps.sh (only what is missing)
#   2. builds build/ (RelWithDebInfo) and build-asan/ (-DTG_SANITIZE=ON: ASan + UBSan)
#   3. ctest --output-on-failure in each: unit tests, then the end-to-end tests (label e2e,
#      as root in network namespaces of their own; skipped with a reason when not root)
#   4. tests/pkg/test_deb.sh: builds the Debian package from a copy of the tree, installs,
#      checks and purges it (about 30 s; skipped with a reason when not root or tools missing)
#   5. fuzz/run.sh: builds build-fuzz/ with clang (libFuzzer, ASan + UBSan) and runs every fuzz
#      target a fixed number of times on its generated seeds (under 2 min on 2 cores, of which
#      85 s fuzzing; skipped with a reason when clang is missing); docs/fuzzing.md
# Exits non-zero if any step fails. Extra arguments go to ctest (e.g. -L unit, -R tcp); with
# them, steps 4 and 5 are skipped.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

if [[ $(id -u) -eq 0 ]]; then
	scripts/install-deps.sh || { echo "test.sh: install-deps failed" >&2; exit 1; }
else
	echo "test.sh: not root: skipping install-deps; the end-to-end tests will be skipped (run: sudo $0)"
fi

failed=()
start=$SECONDS
for variant in build build-asan; do
	args=()
	[[ $variant == build-asan ]] && args=(-DTG_SANITIZE=ON)
	echo "=== $variant: build ==="
	if ! scripts/build.sh "$ROOT/$variant" "${args[@]}"; then
		failed+=("$variant: build")
		continue
	fi
	echo "=== $variant: ctest ==="
	if ! (cd "$ROOT/$variant" && ctest --output-on-failure "$@"); then
		failed+=("$variant: ctest")
	fi
done

echo "=== package: tests/pkg/test_deb.sh ==="
if (($# > 0)); then
	echo "SKIP: test_deb: ctest arguments given ($*): only the selected tests run"
elif ! tests/pkg/test_deb.sh; then
	failed+=("package: test_deb.sh")
fi

echo "=== build-fuzz: fuzz/run.sh ==="
if (($# > 0)); then
	echo "SKIP: fuzz: ctest arguments given ($*): only the selected tests run"
elif ! command -v clang >/dev/null; then
	echo "SKIP: fuzz: clang not found (scripts/install-deps.sh installs it as root)"
elif ! fuzz/run.sh; then
	failed+=("build-fuzz: fuzz/run.sh (findings in build-fuzz/fuzz-artifacts)")
fi

echo "=== test.sh: $((SECONDS - start))s ==="
if ((${#failed[@]} > 0)); then
	printf 'test.sh: FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "test.sh: all builds and tests passed"
