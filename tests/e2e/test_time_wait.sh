#!/usr/bin/env bash
# End-to-end: a client reusing its source port right after a connection the server closed.
#   client ns --TUN--> tungate (gateway ns) --veth--> httpd.py (server ns)
# The server closes first (Connection: close), so the gateway's end of the connection is in
# TIME_WAIT when the client connects again from the same port, as clients closing many short
# connections do within seconds (wrk -c64 with Connection: close: one SYN in eight). The new
# SYN has a higher sequence number, so, as the Linux kernel does, tungate must take it as a new
# connection at once (stackd/syn_hold.c) instead of answering with an ACK of the old one, which
# costs the client a reset and a SYN retransmit (connect() >= 1 s).
# Both handshake modes; each: ROUNDS connections in a row from one port, every connect() within
# FAST_CONNECT s and every response complete; counter stackd.time_wait_reused >= ROUNDS - 1.
#
# Usage: test_time_wait.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

ROUNDS=4
FAST_CONNECT=0.5
LOCAL_PORT=40123

tg_init tge2e "$$"
tg_topology
tg_start_httpd
tg_stats_setup # counters, when this tungate has them (TG_STATS_ARGS)
printf 'time-wait test body\n' >"$TG_TMP/www/tw.txt"

# One connection per line: connect() seconds, then the HTTP status (or the error).
reuse_client() {
	tg_client timeout 60 "$TG_PYTHON" - "$TG_SERVER_ADDR" "$TG_HTTP_PORT" "$LOCAL_PORT" "$ROUNDS" <<'EOF'
import socket, sys, time
host, port, lport, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
req = b"GET /tw.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
for _ in range(rounds):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", lport))
    s.settimeout(10)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
        took = time.monotonic() - t0
        s.sendall(req)
        data = b""
        while True:  # to the server's FIN: the gateway's end goes to TIME_WAIT
            d = s.recv(65536)
            if not d:
                break
            data += d
        ok = data.startswith(b"HTTP/1.1 200") and data.endswith(b"time-wait test body\n")
        print(f"{took:.3f} {'200' if ok else 'bad-response'}", flush=True)
    except OSError as e:
        print(f"{time.monotonic() - t0:.3f} {type(e).__name__}", flush=True)
    s.close()
    time.sleep(0.05)  # our FIN is acknowledged: the port is free on this side
EOF
}

run_mode() {
	local mode=$1 before after out n=0 slow=0 bad=0 took status
	local -a args=("${TG_STATS_ARGS[@]}")
	if [[ $TG_KERNEL_PATH != 1 ]]; then
		tg_tungate_accepts --handshake "$mode" && args+=(--handshake "$mode")
		tg_stop_gateway
	fi
	tg_start_gateway --log-level info "${args[@]}"
	before=$(tg_stat stackd time_wait_reused)
	out=$(reuse_client)
	sleep 1.2 # the counters are published once a second
	after=$(tg_stat stackd time_wait_reused)
	while read -r took status; do
		n=$((n + 1))
		[[ $status == 200 ]] || bad=$((bad + 1))
		tg_fcmp "$took" '<' "$FAST_CONNECT" || slow=$((slow + 1))
	done <<<"$out"
	if ((n == ROUNDS && bad == 0 && slow == 0)); then
		tg_pass "[$mode] $ROUNDS connections from port $LOCAL_PORT in a row: connect() s $(echo "$out" | tr '\n' ' ')"
	else
		tg_fail_check "[$mode] $n/$ROUNDS connections from port $LOCAL_PORT, $bad bad, $slow with connect() >= $FAST_CONNECT s: $(echo "$out" | tr '\n' ' ')"
	fi
	[[ $TG_KERNEL_PATH == 1 ]] && return 0
	if [[ -z $before || -z $after ]]; then
		tg_fail_check "[$mode] counter stackd.time_wait_reused not readable"
	elif ((after - before >= ROUNDS - 1)); then
		tg_pass "[$mode] counter stackd.time_wait_reused $before -> $after"
	else
		tg_fail_check "[$mode] counter stackd.time_wait_reused $before -> $after (want +$((ROUNDS - 1)))"
	fi
}

if [[ $TG_KERNEL_PATH == 1 ]]; then
	run_mode kernel-path
else
	run_mode consistent
	run_mode fast
fi
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 40
	echo "test_time_wait: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_time_wait: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
