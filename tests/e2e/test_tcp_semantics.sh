#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib.sh helpers called without arguments on purpose
# End-to-end: TCP semantics through tungate, IPv4 and IPv6.
#   client ns --TUN--> tungate (gateway ns) --veth--> httpd.py + flowpeer.py (server ns)
# (a) curl -4 / curl -6 GET of a 20 MB file, sha256 match
# (b) half-close, client first: the client sends 5 MB and shuts down its sending side; the server
#     answers (sha256 + length of what it got) only after that EOF; the client must get it all
# (c) half-close, server first: the server sends 5 MB and shuts down its sending side, keeps
#     reading; the client, after EOF, sends 5 MB more; the server must receive them all
# (d) reset from the server (SO_LINGER 0 close): the client's recv() fails with ECONNRESET
# (e) reset from the client (SO_LINGER 0 close): the server's socket sees the reset (or EOF)
#     within 2 s
# (g) a server's FIN costs relayd nothing while the client stays half-open: the client waits
#     2 s after the server's EOF before it uploads; relayd's CPU time over the whole exchange
#     must stay under 1 s (a socket at EOF stays readable: a relay that keeps watching it spins)
# (f) no leaks: relayd's open fds are back to the idle baseline after all of the above, and
#     stackd counts no open flow (counter flows_open, when tungate publishes counters)
# then tungate must still be running, and SIGTERM must stop it cleanly.
#
# Usage: test_tcp_semantics.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

FILE_MB=20
HALF_MB=5
HALF=$((HALF_MB * 1024 * 1024))
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10 --max-time 60)
LEAK_WAIT=10 # seconds relayd gets to close everything after the last flow ended

tg_init tge2e "$$"
tg_topology
tg_setup_ipv6
tg_start_httpd
tg_start_httpd_at "$TG_SERVER6_ADDR" httpd6
tg_start_flowpeer
tg_stats_setup # counters, when this tungate has them (TG_STATS_ARGS)
tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}"

tg_relayd_fd_idle

fam_name() { [[ $1 == *:* ]] && echo IPv6 || echo IPv4; }

# (a) ------------------------------------------------------------------------------------------
check_curl() {
	local flag=$1 host=$2 f=$TG_TMP/www/file.bin want got size t0 el rc
	want=$(sha256sum <"$f" | cut -d' ' -f1)
	size=$(stat -c %s "$f")
	t0=$(tg_now)
	got=$(tg_client "${CURL[@]}" "$flag" "http://$host:$TG_HTTP_PORT/file.bin" | "$TG_PYTHON" "$TG_HTTPD" digest)
	rc=$?
	el=$(tg_elapsed "$t0")
	if ((rc == 0)) && [[ $got == "$want $size" ]]; then
		tg_pass "(a) curl $flag GET $size bytes: sha256 $want matches, ${el}s, $(tg_rate "$size" "$el")"
	else
		tg_fail_check "(a) curl $flag GET: want '$want $size', got '${got:-nothing}' (exit $rc, ${el}s)"
	fi
}

# (b)..(e): flowpeer.py clients print one line and exit 0 when the check held.
fp_check() {
	local label=$1 out rc
	shift
	out=$(tg_flowpeer "$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		tg_pass "$label: $out"
	else
		tg_fail_check "$label: ${out:-no output} (exit $rc)"
	fi
}

# (f) ------------------------------------------------------------------------------------------
check_fd_leaks() {
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		tg_skip "(f) relayd fd leak check: kernel path, no relayd"
		return
	fi
	local n i
	for ((i = 0; i < LEAK_WAIT * 10; i++)); do
		n=$(tg_fd_count "$RELAYD")
		((n >= 0 && n <= FD_BASE)) && break
		sleep 0.1
	done
	if ((n < 0)); then
		tg_fail_check "(f) relayd (pid $RELAYD) is gone"
	elif ((n <= FD_BASE)); then
		tg_pass "(f) no fd leak: relayd has $n open fds after the scenarios (idle baseline $FD_BASE), within $((i / 10)).$((i % 10))s"
	else
		tg_fail_check "(f) fd leak: relayd has $n open fds ${LEAK_WAIT}s after the last flow ended, idle baseline $FD_BASE:"
		find "/proc/$RELAYD/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | sed 's/:\[[0-9]*\]$//' | sort | uniq -c | sed 's/^/   /'
	fi
	local open
	if ! open=$(tg_stat stackd flows_open); then
		tg_skip "(f) stackd flows_open counter: no counters from this tungate"
		return
	fi
	for ((i = 0; i < LEAK_WAIT * 10 && open != 0; i++)); do
		sleep 0.1
		open=$(tg_stat stackd flows_open) || open='?'
	done
	if [[ $open == 0 ]]; then
		tg_pass "(f) no flow leak: stackd flows_open 0 (flows_total $(tg_stat stackd flows_total), reset by relayd $(tg_stat stackd flows_reset_relay), reset locally $(tg_stat stackd flows_reset_local))"
	else
		tg_fail_check "(f) flow leak: stackd flows_open $open ${LEAK_WAIT}s after the last flow ended (want 0)"
	fi
}

"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 21 >"$TG_TMP/www/file.bin"
check_curl -4 "$TG_SERVER_ADDR"
check_curl -6 "[$TG_SERVER6_ADDR]"

n=0
for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	fam=$(fam_name "$addr")
	n=$((n + 1))
	fp_check "(b) $fam half-close, client first" half-close-client "$addr" "$TG_FP_TCP_PORT" "$HALF" $((100 + n))
	fp_check "(c) $fam half-close, server first" half-close-server "$addr" "$TG_FP_TCP_PORT" \
		"$HALF" $((200 + n)) "$HALF" $((300 + n)) "srvfirst$n" "$TG_FP_RESULTS"
	fp_check "(d) $fam reset from the server" rst-client "$addr" "$TG_FP_TCP_PORT"
	fp_check "(e) $fam reset from the client" abort-client "$addr" "$TG_FP_TCP_PORT" "abort$n" "$TG_FP_RESULTS"
done

# (g) ------------------------------------------------------------------------------------------
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
check_quiet_half_close() {
	local pid t0 t1 hz
	pid=$(tg_gw_child relayd) || pid=
	[[ -n $pid ]] || { tg_skip "(g) quiet half-close: no relayd (kernel path)"; return; }
	hz=$(getconf CLK_TCK)
	t0=$(cpu_ticks "$pid")
	fp_check "(g) half-close, server first, client idle 2 s" half-close-server "$TG_SERVER_ADDR" \
		"$TG_FP_TCP_PORT" 100000 401 100000 402 quiet "$TG_FP_RESULTS" --idle 2
	t1=$(cpu_ticks "$pid")
	if (((t1 - t0) < hz)); then
		tg_pass "(g) relayd used $((t1 - t0)) ticks (of $hz per second) over the half-closed pause"
	else
		tg_fail_check "(g) relayd used $((t1 - t0)) ticks (>= 1 s) while a half-closed flow was idle"
	fi
}
check_quiet_half_close

check_fd_leaks
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 80
	echo "test_tcp_semantics: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_tcp_semantics: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
