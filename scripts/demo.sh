#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib.sh helpers called without arguments on purpose
# tungate demo: sudo scripts/demo.sh
# Installs what is missing, builds build/, then fetches a 20 MB random file over HTTP from a
# server namespace, through tungate, and checks it arrived byte-exact:
#
#   tgdemo-client ns          tgdemo-gw ns                        tgdemo-server ns
#   TUN 198.18.0.1/24  ---->  tungate --netns tgdemo-client  --->  198.18.1.2:8080
#   (created by tungate)      veth 198.18.1.1/24, no default route  python3 -m http.server
#
# Everything (namespaces, processes, temp files) is removed at the end, also on failure.
# TG_DEMO_SKIP_BUILD=1 skips install-deps and the build; TG_E2E_KERNEL_PATH=1 replaces tungate
# with the kernel's own forwarding (see tests/e2e/lib.sh), to check the set-up itself.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: needs root for network namespaces and the TUN device: sudo $0" >&2
	exit 1
fi

if [[ ${TG_DEMO_SKIP_BUILD:-0} != 1 ]]; then
	"$ROOT/scripts/install-deps.sh" || exit 1
	"$ROOT/scripts/build.sh" "$ROOT/build" || { echo "demo.sh: build failed" >&2; exit 1; }
fi

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$ROOT/tests/e2e/lib.sh"
TG_BIN_DIR=${TG_BIN_DIR:-$ROOT/build/bin}
SIZE=$((20 * 1024 * 1024))

echo
echo "=== tungate demo ==="
tg_init tgdemo # tgdemo-client, tgdemo-gw, tgdemo-server
tg_topology
tg_say "namespaces: $TG_NS_CLIENT $TG_NS_GW $TG_NS_SERVER"

mkdir -p "$TG_TMP/www"
head -c "$SIZE" /dev/urandom >"$TG_TMP/www/random.bin" || fail "could not write the test file"
SRC_SHA=$(sha256sum <"$TG_TMP/www/random.bin" | cut -d' ' -f1)
tg_say "source file: $SIZE random bytes"

ip netns exec "$TG_NS_SERVER" "$TG_PYTHON" -m http.server --bind "$TG_SERVER_ADDR" \
	--directory "$TG_TMP/www" "$TG_HTTP_PORT" >"$TG_TMP/http.log" 2>&1 &
TG_PIDS+=($!)
tg_wait_for 15 "http.server listening" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$TG_HTTP_PORT" ||
	{ cat "$TG_TMP/http.log"; fail "the HTTP server did not start"; }
tg_say "HTTP server on $TG_SERVER_ADDR:$TG_HTTP_PORT in $TG_NS_SERVER"

tg_start_gateway # built-in defaults (TG_TUNGATE_ARGS may add some)

URL=http://$TG_SERVER_ADDR:$TG_HTTP_PORT/random.bin
tg_say "client ($TG_NS_CLIENT): curl $URL"
STATS=$(tg_client curl -sS --fail --noproxy '*' --connect-timeout 10 --max-time 120 \
	-o "$TG_TMP/received.bin" -w '%{size_download} %{speed_download} %{time_total}' "$URL")
RC=$?
read -r GOT_BYTES SPEED TIME <<<"${STATS:-0 0 0}"
GOT_SHA=$(sha256sum <"$TG_TMP/received.bin" 2>/dev/null | cut -d' ' -f1)

echo
echo "bytes received:   $GOT_BYTES (sent $SIZE)"
echo "sha256 received:  ${GOT_SHA:-none}"
echo "sha256 source:    $SRC_SHA"
echo "transfer:         ${TIME}s, $(awk -v s="$SPEED" 'BEGIN { printf "%.1f MB/s (%.0f Mbit/s)", s / 1e6, s * 8 / 1e6 }')"
echo

if [[ $TG_KERNEL_PATH == 1 ]]; then
	echo "(kernel path: tungate was not used)"
else
	echo "tungate log (last 30 lines of $TG_LOG):"
	tail -n 30 "$TG_LOG" | sed 's/^/  | /'
	echo
fi

if ((RC != 0)); then
	fail "curl failed with exit status $RC"
fi
if [[ $GOT_BYTES != "$SIZE" || $GOT_SHA != "$SRC_SHA" ]]; then
	fail "transfer through tungate does not match the source file"
fi
if [[ $TG_KERNEL_PATH == 1 ]]; then echo "OK: transfer over the kernel path matches (tungate not used)"; else echo "OK: transfer through tungate matches"; fi
exit 0
