#!/usr/bin/env bash
# Configure and build tungate: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build (in the repository); the programs land in BUILD_DIR/bin.
# Build type RelWithDebInfo unless the extra arguments say otherwise.
#   scripts/build.sh                          # ./build
#   scripts/build.sh build-asan -DTG_SANITIZE=ON
#   scripts/build.sh -DTG_TESTS=OFF           # ./build, extra args only
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/build
if [[ $# -gt 0 && $1 != -* ]]; then
	DIR=$1
	shift
fi

cmake -S "$ROOT" -B "$DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$DIR" -j"$(nproc)"
echo "build.sh: built in $DIR (programs in $DIR/bin)"
