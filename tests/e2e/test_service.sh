#!/usr/bin/env bash
# End-to-end: tungate as a service.
#   (a) systemd's notify protocol: READY=1 once all three children are up, WATCHDOG=1 pings
#       when WATCHDOG_USEC asks for them (a fake NOTIFY_SOCKET plays systemd);
#   (b) SIGHUP with a changed tcp_idle_timeout: applied live, an idle flow is then reset;
#   (c) SIGHUP with a changed MTU: reported as needing a restart, the gateway keeps running;
#   (d) SIGHUP with a broken file: not reloaded, the gateway keeps running.
#
# Usage: test_service.sh [BIN_DIR]
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root or kernel path).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

tg_init tgsvc "$$"
if [[ $TG_KERNEL_PATH == 1 ]]; then
	tg_skip "service behaviour is tungate's (kernel path requested)"
	exit 77
fi
tg_topology
tg_start_flowpeer

CONF=$TG_TMP/tungate.conf
NOTIFY=$TG_TMP/notify.sock
NOTES=$TG_TMP/notify.log
printf '[log]\nlevel = info\n[stack]\ntcp_idle_timeout = 7200\n' >"$CONF"

# A stand-in for systemd's notification socket: every datagram becomes one line.
tg_start_bg notify "$TG_NS_SERVER" "$TG_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode(errors="replace").replace("\n", " ") + "\n")
' "$NOTIFY" "$NOTES"
tg_wait_for 10 "notify socket" test -S "$NOTIFY" || fail "no notify socket"
NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=1000000 tg_start_gateway -c "$CONF"

# (a) ------------------------------------------------------------------------------------------
sleep 2.5
if grep -q 'READY=1' "$NOTES" && (($(grep -c 'WATCHDOG=1' "$NOTES") >= 3)); then
	tg_pass "(a) notify: $(grep -m1 'READY=1' "$NOTES"); $(grep -c 'WATCHDOG=1' "$NOTES") watchdog pings in 2.5 s (period 1 s)"
else
	tg_fail_check "(a) notify: got '$(tr '\n' '|' <"$NOTES")'"
fi

# Idles on a banner connection; prints what ended it and when (or "alive" after 8 s).
idle_probe() {
	tg_client timeout 30 "$TG_PYTHON" - "$TG_SERVER_ADDR" "$TG_FP_BANNER_PORT" <<'PY'
import errno, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.recv(100)
t0 = time.time()
s.settimeout(8)
try:
    d = s.recv(100)
    print(("eof" if d == b"" else "data") + " %.1f" % (time.time() - t0))
except socket.timeout:
    print("alive %.1f" % (time.time() - t0))
except OSError as e:
    print("%s %.1f" % (errno.errorcode.get(e.errno, e.errno), time.time() - t0))
PY
}

hup() {
	kill -HUP "$TG_GW_PID"
	sleep 1
}

# (b) ------------------------------------------------------------------------------------------
before=$(idle_probe)
printf '[log]\nlevel = info\n[stack]\ntcp_idle_timeout = 2\n' >"$CONF"
hup
after=$(idle_probe)
if [[ ${before%% *} == alive && ${after%% *} == ECONNRESET ]] &&
	grep -q 'SIGHUP: log level and timeouts reloaded' "$TG_LOG" &&
	grep -q 'stackd.*settings reloaded: idle timeout 2s' "$TG_LOG" &&
	! grep -q 'take effect at the next restart' "$TG_LOG"; then
	tg_pass "(b) SIGHUP tcp_idle_timeout 7200 -> 2: before '$before', after '$after'"
else
	tg_fail_check "(b) SIGHUP idle timeout: before '$before' (want alive), after '$after' (want ECONNRESET)"
fi

# (c) ------------------------------------------------------------------------------------------
printf '[tun]\nmtu = 9000\n[stack]\ntcp_idle_timeout = 2\n' >"$CONF"
hup
if grep -q 'take effect at the next restart' "$TG_LOG" && tg_gw_alive; then
	tg_pass "(c) SIGHUP with a new MTU: reported as needing a restart, gateway running"
else
	tg_fail_check "(c) SIGHUP with a new MTU: no restart notice, or the gateway died"
fi

# (d) ------------------------------------------------------------------------------------------
printf '[tun]\nmtu = lots\n' >"$CONF"
hup
if grep -q 'configuration not reloaded' "$TG_LOG" && tg_gw_alive &&
	[[ $(idle_probe | cut -d' ' -f1) == ECONNRESET ]]; then
	tg_pass "(d) SIGHUP with a broken file: $(grep -m1 'configuration not reloaded' "$TG_LOG" | cut -c1-120); still relaying with the old settings"
else
	tg_fail_check "(d) SIGHUP with a broken file: not reported, or the gateway stopped relaying"
fi

tg_check_gateway_alive
tg_check_clean_stop
if grep -q 'STOPPING=1' "$NOTES"; then
	tg_pass "notify: STOPPING=1 sent on SIGTERM"
else
	tg_fail_check "notify: no STOPPING=1 on SIGTERM"
fi

if ((TG_FAILED > 0)); then
	tg_show_log 100
	echo "test_service: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_service: all checks passed"
exit 0
