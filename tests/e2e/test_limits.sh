#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib.sh helpers called without arguments on purpose
# End-to-end: what the gateway does at its limits (issue #8, "floods and exhaustion").
#   client ns --TUN--> tungate (gateway ns) --veth--> hold_conns.py serve, httpd.py (server ns)
# (a) relayd out of fds: --relayd-nofile 256, 400 connections at once. The ones relayd has no
#     socket for are refused cleanly (connect fails or the connection is reset; none hangs),
#     at most 256 stay open, relayd counts open_failed_nofile, keeps running without spinning
#     (CPU time over 2 s at the limit), and once the connections close, new ones work again
#     (20 HTTP requests, then 200 connections held at once).
# (b) flow table full, refuse: --max-flows 64; with 64 held open the 65th is reset, counted
#     (flows_refused), and the 64 stay open.
# (c) flow table full, evict: --max-flows 64 --flow-table-full evict; with 64 held and idle, a
#     new connection works, the oldest one is reset (seen from the client), flows_evicted
#     counts it, and the 63 others stay open.
#
# Usage: test_limits.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, or no stats in this build).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

HOLD="$TG_REPO_DIR/bench/hold_conns.py"
PEER="$TG_E2E_DIR/limitpeer.py"
HOLD_PORT=9300
NOFILE=256
MANY=400

if [[ $TG_KERNEL_PATH == 1 ]]; then
	echo "SKIP: test_limits checks tungate's own limits (kernel path has none of them)"
	exit 77
fi
export TG_E2E_DEADLINE=${TG_E2E_DEADLINE:-240}
tg_init tge2e "$$"
tg_topology
tg_stats_setup || { echo "SKIP: this tungate has no --stats-file"; exit 77; }
tg_tungate_accepts --flow-table-full evict || fail "this tungate has no --flow-table-full"
tg_start_httpd
tg_start_bg holdsrv "$TG_NS_SERVER" timeout 200 "$TG_PYTHON" "$HOLD" serve --bind "$TG_SERVER_ADDR" \
	--port "$HOLD_PORT" --duration 190 --status "$TG_TMP/holdsrv.json"
tg_wait_for 10 "hold_conns server" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$HOLD_PORT" ||
	fail "hold_conns.py serve did not start"

# jget FILE KEY [KEY2]: a value from a JSON file ('' when missing)
jget() { "$TG_PYTHON" -c 'import json, sys
try:
    v = json.load(open(sys.argv[1]))
    for k in sys.argv[2:]:
        v = v.get(k, "") if isinstance(v, dict) else ""
except (OSError, ValueError):
    v = ""
print(json.dumps(v) if isinstance(v, dict) else v)' "$@"; }

# hold_bg NAME COUNT HOLD_S: hold_conns.py hold in the client namespace, in the background
hold_bg() {
	rm -f "$TG_TMP/$1.json"
	tg_start_bg "$1" "$TG_NS_CLIENT" timeout $(($3 + 40)) "$TG_PYTHON" "$HOLD" hold \
		--connect "$TG_SERVER_ADDR:$HOLD_PORT" --count "$2" --parallel 32 --retries 0 \
		--timeout 20 --hold "$3" --ready "$TG_TMP/$1.json"
}

# cpu_ticks PID: utime + stime of a process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo -1; }

restart_gateway() {
	tg_stop_gateway
	tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}" "$@"
}

# ---- (a) relayd out of fds -------------------------------------------------------------------
tg_say "(a) relayd with RLIMIT_NOFILE $NOFILE, $MANY connections at once"
tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}" --relayd-nofile "$NOFILE"
RELAYD=$(tg_gw_child relayd)
[[ -n $RELAYD ]] || fail "no relayd child"
lim=$(awk '/Max open files/ {print $4}' "/proc/$RELAYD/limits")
[[ $lim == "$NOFILE" ]] || tg_fail_check "(a) relayd's soft fd limit is $lim, want $NOFILE"

hold_bg many "$MANY" 25
tg_wait_for 30 "hold_conns report" test -s "$TG_TMP/many.json" || fail "hold_conns.py hold did not report"
sleep 3 # resets that follow a fast handshake arrive within this
est=$(jget "$TG_TMP/many.json" established)
failed=$(jget "$TG_TMP/many.json" failed)
dropped=$(jget "$TG_TMP/many.json" dropped_later)
errors=$(jget "$TG_TMP/many.json" errors)
hung=$(jget "$TG_TMP/many.json" errors timeout)
alive=$((est - dropped))
refused=$((failed + dropped))
tg_say "(a) established $est, failed at once $failed, reset after the handshake $dropped, errors $errors"
if ((est + failed == MANY)) && [[ -z $hung || $hung == 0 ]]; then
	tg_pass "(a) every one of the $MANY attempts ended (established or refused), none hung"
else
	tg_fail_check "(a) $MANY attempts: $est established + $failed failed, ${hung:-0} still connecting after 20 s"
fi
if ((alive > 100 && alive < NOFILE && refused >= MANY - NOFILE)); then
	tg_pass "(a) $alive connections open (fd limit $NOFILE), $refused refused cleanly ($errors, $dropped reset after the handshake)"
else
	tg_fail_check "(a) $alive open, $refused refused (want 100 < open < $NOFILE and refused >= $((MANY - NOFILE)))"
fi
srv_open=$(jget "$TG_TMP/holdsrv.json" open)
if [[ $srv_open == "$alive" ]]; then
	tg_pass "(a) the server holds the same $srv_open connections"
else
	tg_fail_check "(a) the server holds ${srv_open:-?} connections, the client $alive"
fi
nofile=$(tg_stat relayd open_failed_nofile)
if [[ -n $nofile ]] && ((nofile > 0)); then
	tg_pass "(a) relayd counted open_failed_nofile = $nofile"
else
	tg_fail_check "(a) relayd's open_failed_nofile is '${nofile:-?}', want > 0"
fi
# At the limit with nothing moving, relayd must sleep: no retry loop on EMFILE.
t0=$(cpu_ticks "$RELAYD")
sleep 2
t1=$(cpu_ticks "$RELAYD")
hz=$(getconf CLK_TCK)
if ((t0 >= 0 && t1 >= 0 && (t1 - t0) * 100 < hz * 2 * 10)); then
	tg_pass "(a) relayd idle at the fd limit: $((t1 - t0)) ticks of CPU in 2 s (bound 10 %)"
else
	tg_fail_check "(a) relayd used $((t1 - t0)) ticks of CPU in 2 s at the fd limit (bound $((hz * 2 / 10)))"
fi
[[ $(tg_gw_child relayd) == "$RELAYD" ]] && tg_pass "(a) relayd still running (pid $RELAYD, not restarted)" ||
	tg_fail_check "(a) relayd was restarted or died (pid now '$(tg_gw_child relayd)', was $RELAYD)"

# Close them all: the gateway must serve again.
kill -TERM "$TG_BG_PID" 2>/dev/null
wait "$TG_BG_PID" 2>/dev/null
tg_wait_for 15 "relayd's sockets closed" bash -c '[[ $(find /proc/'"$RELAYD"'/fd -mindepth 1 | wc -l) -lt 64 ]]' ||
	tg_fail_check "(a) relayd still has $(tg_fd_count "$RELAYD") fds open 15 s after the clients closed"
ok=0
echo hello >"$TG_TMP/www/hello.txt"
for ((i = 0; i < 20; i++)); do
	body=$(tg_client curl -sS --max-time 5 "http://$TG_SERVER_ADDR:$TG_HTTP_PORT/hello.txt" 2>&1)
	[[ $body == hello ]] && ok=$((ok + 1))
done
((ok == 20)) && tg_pass "(a) after the clients closed: 20/20 HTTP requests through the gateway" ||
	tg_fail_check "(a) after the clients closed: $ok/20 HTTP requests succeeded"
hold_bg again 200 4
tg_wait_for 30 "hold_conns report" test -s "$TG_TMP/again.json" || fail "hold_conns.py hold did not report"
sleep 2
est=$(jget "$TG_TMP/again.json" established)
dropped=$(jget "$TG_TMP/again.json" dropped_later)
((est == 200 && dropped == 0)) && tg_pass "(a) recovered: 200 connections held at once below the limit" ||
	tg_fail_check "(a) after recovery: $est/200 established, $dropped reset later ($(jget "$TG_TMP/again.json" errors))"
wait "$TG_BG_PID" 2>/dev/null

# ---- (b) flow table full: refuse ----------------------------------------------------------
tg_say "(b) --max-flows 64, flow_table_full refuse"
restart_gateway --max-flows 64
hold_bg full 64 30
tg_wait_for 30 "hold_conns report" test -s "$TG_TMP/full.json" || fail "hold_conns.py hold did not report"
HOLD_PID=$TG_BG_PID
est=$(jget "$TG_TMP/full.json" established)
((est == 64)) || tg_fail_check "(b) $est/64 connections established ($(jget "$TG_TMP/full.json" errors))"
before=$(tg_stat stackd flows_refused)
r=$(tg_client timeout 20 "$TG_PYTHON" "$PEER" probe --connect "$TG_SERVER_ADDR:$HOLD_PORT" --wait 3)
sleep 1.5 # counters are published once a second
after=$(tg_stat stackd flows_refused)
res=$(echo "$r" | "$TG_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["result"])' 2>/dev/null)
if [[ $res == reset || $res == refused || $res == eof ]]; then
	tg_pass "(b) the 65th connection was refused cleanly: $res ($r)"
else
	tg_fail_check "(b) the 65th connection: ${res:-?} ($r), want reset or refused"
fi
if [[ -n $before && -n $after ]] && ((after > before)); then
	tg_pass "(b) flows_refused moved: $before -> $after"
else
	tg_fail_check "(b) flows_refused did not move: '$before' -> '$after'"
fi
dropped=$(jget "$TG_TMP/full.json" dropped_later)
((dropped == 0)) && tg_pass "(b) the 64 held connections are all still open" ||
	tg_fail_check "(b) $dropped of the 64 held connections were closed or reset"
kill -TERM "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null

# ---- (c) flow table full: evict -----------------------------------------------------------
tg_say "(c) --max-flows 64, flow_table_full evict"
restart_gateway --max-flows 64 --flow-table-full evict
rm -f "$TG_TMP/evict.ready" "$TG_TMP/evict.go"
tg_client timeout 90 "$TG_PYTHON" "$PEER" evict --connect "$TG_SERVER_ADDR:$HOLD_PORT" \
	--ready "$TG_TMP/evict.ready" --go "$TG_TMP/evict.go" --wait 3 >"$TG_TMP/evict.out" 2>&1 &
EVICT_PID=$!
TG_PIDS+=("$EVICT_PID")
tg_wait_for 10 "the oldest connection" test -e "$TG_TMP/evict.ready" || fail "limitpeer.py evict did not connect"
sleep 1
hold_bg rest 63 40
HOLD_PID=$TG_BG_PID
tg_wait_for 30 "hold_conns report" test -s "$TG_TMP/rest.json" || fail "hold_conns.py hold did not report"
est=$(jget "$TG_TMP/rest.json" established)
((est == 63)) || tg_fail_check "(c) $est/63 connections established ($(jget "$TG_TMP/rest.json" errors))"
sleep 3 # every flow idle for more than EVICT_MIN_IDLE
before=$(tg_stat stackd flows_evicted)
touch "$TG_TMP/evict.go"
wait "$EVICT_PID"
sleep 1.5 # counters are published once a second
after=$(tg_stat stackd flows_evicted)
r=$(cat "$TG_TMP/evict.out")
old=$(echo "$r" | "$TG_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["oldest"])' 2>/dev/null)
new=$(echo "$r" | "$TG_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["newest"])' 2>/dev/null)
if [[ $new == alive ]]; then
	tg_pass "(c) the 65th connection works (open and quiet for 3 s)"
else
	tg_fail_check "(c) the 65th connection: ${new:-?} ($r), want alive"
fi
if [[ $old == reset || $old == eof ]]; then
	tg_pass "(c) the oldest idle connection was evicted: the client saw $old"
else
	tg_fail_check "(c) the oldest connection: ${old:-?} ($r), want reset"
fi
if [[ -n $before && -n $after ]] && ((after == before + 1)); then
	tg_pass "(c) flows_evicted counted it: $before -> $after"
else
	tg_fail_check "(c) flows_evicted '$before' -> '$after', want one more"
fi
dropped=$(jget "$TG_TMP/rest.json" dropped_later)
((dropped == 0)) && tg_pass "(c) the 63 other connections are all still open" ||
	tg_fail_check "(c) $dropped of the 63 other connections were closed or reset"
kill -TERM "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null

tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_limits: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_limits: all checks passed"
exit 0
