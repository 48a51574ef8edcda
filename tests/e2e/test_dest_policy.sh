#!/usr/bin/env bash
# End-to-end: a client cannot reach the gateway's own services through tungate
# (relayd/dest_policy.c). A server listens on the gateway's own address 198.18.1.1, in the
# gateway namespace, where relayd's outbound sockets live:
# (a) by default a TCP connection and a UDP datagram to it through the TUN are refused
#     (curl fails at once, the UDP client gets ECONNREFUSED), relayd's dest_refused_local
#     counter moves, and the server never sees them; the real server still works;
# (b) with [relay] allow_local = yes (--allow-local yes) both get through.
#
# Usage: test_dest_policy.sh [BIN_DIR]. Exit: 0 passed, 1 failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

if [[ $TG_KERNEL_PATH == 1 ]]; then
	echo "SKIP: test_dest_policy: tungate's own policy; the kernel path has none"
	exit 77
fi

SELF_HTTP=18080
SELF_UDP=18081
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 5 --max-time 10)

tg_init tgdst "$$"
tg_topology
tg_start_httpd
tg_stats_setup || fail "this tungate publishes no counters"

# The gateway's own services: an HTTP server and a UDP echo on 198.18.1.1.
mkdir -p "$TG_TMP/self"
echo "the gateway's own page" >"$TG_TMP/self/index.html"
tg_start_bg selfhttp "$TG_NS_GW" "$TG_PYTHON" -m http.server --bind "$TG_GW_ADDR" \
	--directory "$TG_TMP/self" "$SELF_HTTP"
SELF_PIDS=("$TG_BG_PID")
tg_start_bg selfudp "$TG_NS_GW" "$TG_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)' "$TG_GW_ADDR" "$SELF_UDP"
SELF_PIDS+=("$TG_BG_PID")
tg_wait_for 15 "gateway's own HTTP server" tg_listening "$TG_NS_GW" "$TG_GW_ADDR" "$SELF_HTTP" ||
	fail "the gateway's own HTTP server did not start"

# One UDP datagram to the gateway's echo; prints "echo", "refused" or "timeout".
udp_probe() {
	tg_client timeout 10 "$TG_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], int(sys.argv[2])))
try:
    s.send(b"ping")
    print("echo" if s.recv(64) == b"ping" else "wrong")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")' "$TG_GW_ADDR" "$SELF_UDP"
}

requests_seen() { grep -c 'GET /' "$TG_TMP/selfhttp.log" 2>/dev/null; }

# (a) ------------------------------------------------------------------------------------------
tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}"
before=$(tg_stat relayd dest_refused_local) || fail "no dest_refused_local counter"
out=$(tg_client "${CURL[@]}" "http://$TG_GW_ADDR:$SELF_HTTP/index.html" 2>&1)
rc=$?
if ((rc != 0)) && [[ $(requests_seen) == 0 ]]; then
	tg_pass "(a) TCP to the gateway's own address refused (curl exit $rc), the server saw nothing"
else
	tg_fail_check "(a) TCP to the gateway's own address: curl exit $rc, '$out', requests seen $(requests_seen)"
fi
got=$(udp_probe)
if [[ $got == refused ]]; then
	tg_pass "(a) UDP to the gateway's own address refused (ECONNREFUSED)"
else
	tg_fail_check "(a) UDP to the gateway's own address: want refused, got '$got'"
fi
sleep 1.2 # counters are published once a second
after=$(tg_stat relayd dest_refused_local)
if ((after >= before + 2)); then
	tg_pass "(a) relayd counted the refusals: dest_refused_local $before -> $after"
else
	tg_fail_check "(a) dest_refused_local $before -> $after (want at least +2)"
fi
echo hello >"$TG_TMP/www/hello.txt"
got=$(tg_client "${CURL[@]}" "http://$TG_SERVER_ADDR:$TG_HTTP_PORT/hello.txt")
if [[ $got == hello ]]; then
	tg_pass "(a) the real server behind the gateway still answers"
else
	tg_fail_check "(a) the real server: got '$got'"
fi
tg_check_children_stable
tg_stop_gateway

# (b) ------------------------------------------------------------------------------------------
tg_start_gateway --log-level info --allow-local yes
got=$(tg_client "${CURL[@]}" "http://$TG_GW_ADDR:$SELF_HTTP/index.html")
if [[ $got == "the gateway's own page" ]]; then
	tg_pass "(b) allow_local = yes: TCP to the gateway's own server works"
else
	tg_fail_check "(b) allow_local = yes: TCP got '$got'"
fi
got=$(udp_probe)
if [[ $got == echo ]]; then
	tg_pass "(b) allow_local = yes: UDP echo from the gateway's own address"
else
	tg_fail_check "(b) allow_local = yes: UDP got '$got'"
fi
tg_check_children_stable
# The gateway's own servers go first: the clean-stop check wants its namespace empty.
kill "${SELF_PIDS[@]}" 2>/dev/null
wait "${SELF_PIDS[@]}" 2>/dev/null
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 100
	echo "test_dest_policy: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_dest_policy: all checks passed"
exit 0
