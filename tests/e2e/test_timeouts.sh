#!/usr/bin/env bash
# End-to-end: idle timeouts. With --tcp-idle-timeout 2, an established TCP connection that
# carries nothing is reset towards the client within a few seconds (and counted), while one
# that keeps talking survives. (The half-close timeout shares the sweep; it is not tested
# separately here.)
#
# Usage: test_timeouts.sh [BIN_DIR]
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root or kernel path).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

tg_init tgtmo "$$"
if [[ $TG_KERNEL_PATH == 1 ]]; then
	tg_skip "idle timeouts are tungate's (kernel path requested)"
	exit 77
fi
tg_topology
tg_start_flowpeer
tg_stats_setup
tg_start_gateway --log-level info --tcp-idle-timeout 2 --tcp-half-close-timeout 2 "${TG_STATS_ARGS[@]}"

# Connects to the banner server, reads its greeting, then either idles or keeps talking (the
# banner server reads what it gets); prints what ended it and when.
probe() {
	tg_client timeout 30 "$TG_PYTHON" - "$TG_SERVER_ADDR" "$TG_FP_BANNER_PORT" "$1" <<'PY'
import errno, socket, sys, time
addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((addr, port), timeout=5)
s.recv(100)
t0 = time.time()
s.settimeout(0.5)
while time.time() - t0 < 10:
    try:
        if mode == "talk":
            s.send(b"x")
        data = s.recv(100)
        if data == b"":
            print("eof %.1f" % (time.time() - t0)); sys.exit(0)
    except socket.timeout:
        continue
    except OSError as e:
        print("%s %.1f" % (errno.errorcode.get(e.errno, e.errno), time.time() - t0)); sys.exit(0)
print("alive %.1f" % (time.time() - t0))
PY
}

check() {
	local what=$1 mode=$2 want=$3 out
	out=$(probe "$mode")
	if [[ ${out%% *} == "$want" ]]; then
		tg_pass "$what: $out s"
	else
		tg_fail_check "$what: got '${out:-nothing}', want $want"
	fi
}

check "idle established connection is reset after --tcp-idle-timeout 2" idle ECONNRESET
check "a connection that keeps talking survives 10 s" talk alive
expired=$(tg_stat stackd flows_idle_expired) || expired=?
if [[ $expired =~ ^[0-9]+$ ]] && ((expired >= 1)); then
	tg_pass "stackd counted $expired idle expiry(ies)"
else
	tg_fail_check "stackd flows_idle_expired = $expired, want >= 1"
fi
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 100
	echo "test_timeouts: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_timeouts: all checks passed"
exit 0
