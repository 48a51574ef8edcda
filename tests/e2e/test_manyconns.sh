#!/usr/bin/env bash
# End-to-end: 10,000 concurrent TCP connections held open through the gateway for 60 s (#8).
#   client ns --TUN--> tungate --max-flows 12000 (gateway ns) --veth--> hold_conns.py (server ns)
# bench/hold_conns.py opens CONNS connections (at most 32 handshakes in flight) and holds them
# HOLD_S seconds. Checks: all CONNS established; at the end of the hold none was closed or reset
# on the client side and the server still holds all CONNS; tungate's children survive. Reports
# the VmRSS of tunio, stackd and relayd, idle and with the connections held, and the bytes per
# connection ((held - idle) / CONNS); under the normal build that must stay below
# BYTES_PER_CONN_MAX (user-space memory only: the kernel's socket memory is not in it).
# Under ASan the hold is 20 s (it holds 10,000 for the full 60 s too, but CI time is better
# spent elsewhere: set HOLD_S_ASAN=60) and the memory bound is not checked (its quarantine and
# shadow memory inflate RSS: ≈4 KB per connection there).
#
# Usage: test_manyconns.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, or the fd limit is too low).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

HOLD="$TG_REPO_DIR/bench/hold_conns.py"
PORT=9400
CONNS=${CONNS:-10000}
HOLD_S=${HOLD_S:-60}
BYTES_PER_CONN_MAX=$((64 * 1024))

ASAN=0
if [[ $TG_KERNEL_PATH != 1 ]] && grep -q __asan_init "${TG_BIN_DIR:-$TG_REPO_DIR/build/bin}/stackd" 2>/dev/null; then
	ASAN=1
	CONNS=${CONNS_ASAN:-10000}
	HOLD_S=${HOLD_S_ASAN:-20}
fi
# Each side needs an fd per connection: raise the hard limit for the test's processes.
ulimit -Hn $((CONNS + 2048)) 2>/dev/null || true
ulimit -Sn $((CONNS + 2048)) 2>/dev/null || true
if (($(ulimit -n) < CONNS + 1024)); then
	echo "SKIP: cannot raise the fd limit to $((CONNS + 1024)) (have $(ulimit -n))"
	exit 77
fi
export TG_E2E_DEADLINE=${TG_E2E_DEADLINE:-$((HOLD_S + 100))}
tg_init tge2e "$$"
tg_topology
tg_stats_setup || true
tg_start_gateway --log-level info --max-flows 12000 "${TG_STATS_ARGS[@]}"

tg_start_bg holdsrv "$TG_NS_SERVER" timeout $((HOLD_S + 90)) "$TG_PYTHON" "$HOLD" serve \
	--bind "$TG_SERVER_ADDR" --port "$PORT" --duration $((HOLD_S + 80)) --status "$TG_TMP/srv.json"
tg_wait_for 10 "hold_conns server" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$PORT" ||
	fail "hold_conns.py serve did not start"

jget() { "$TG_PYTHON" -c 'import json, sys
try:
    v = json.load(open(sys.argv[1]))
    for k in sys.argv[2:]:
        v = v.get(k, "") if isinstance(v, dict) else ""
except (OSError, ValueError):
    v = ""
print(json.dumps(v) if isinstance(v, dict) else v)' "$@"; }

PIDS=""
RSS_IDLE=0
if [[ $TG_KERNEL_PATH != 1 ]]; then
	for c in tunio stackd relayd; do
		p=$(tg_gw_child "$c")
		[[ -n $p ]] || fail "no $c child"
		PIDS+="$p "
	done
	sleep 0.5
	# shellcheck disable=SC2086
	RSS_IDLE=$(tg_rss_kib $PIDS)
fi

tg_say "opening $CONNS connections, holding them ${HOLD_S}s"
tg_start_bg hold "$TG_NS_CLIENT" timeout $((HOLD_S + 80)) "$TG_PYTHON" "$HOLD" hold \
	--connect "$TG_SERVER_ADDR:$PORT" --count "$CONNS" --parallel 32 --retries 0 --timeout 40 \
	--hold "$HOLD_S" --ready "$TG_TMP/hold.json"
HOLD_PID=$TG_BG_PID
tg_wait_for 50 "hold_conns report" test -s "$TG_TMP/hold.json" || fail "hold_conns.py hold did not report"
T_HELD=$SECONDS
est=$(jget "$TG_TMP/hold.json" established)
secs=$(jget "$TG_TMP/hold.json" seconds)
if ((est == CONNS)); then
	tg_pass "$CONNS/$CONNS connections established in ${secs}s"
else
	tg_fail_check "$est/$CONNS connections established in ${secs}s ($(jget "$TG_TMP/hold.json" errors))"
fi
# Memory once the server holds them all (relayd's sockets exist then too).
tg_wait_for 20 "the server holding $est" bash -c '[[ $('"$TG_PYTHON"' -c "import json; print(json.load(open(\"'"$TG_TMP"'/srv.json\"))[\"open\"])") -ge '"$est"' ]]' ||
	tg_fail_check "the server holds $(jget "$TG_TMP/srv.json" open) connections, want $est"
sleep 2
RSS_HELD=0
if [[ $TG_KERNEL_PATH != 1 ]]; then
	# shellcheck disable=SC2086
	RSS_HELD=$(tg_rss_kib $PIDS)
	detail=""
	for p in $PIDS; do detail+="$(ps -o comm= -p "$p") $(($(tg_rss_kib "$p") / 1024)) MiB, "; done
	per=$(((RSS_HELD - RSS_IDLE) * 1024 / (est > 0 ? est : 1)))
	tg_say "VmRSS tunio+stackd+relayd: idle $((RSS_IDLE / 1024)) MiB, with $est connections $((RSS_HELD / 1024)) MiB (${detail%, }): $per bytes per connection"
	if [[ -n $TG_STATS_FILE ]]; then
		tg_say "non-zero drop/refusal counters: $("$(tg_bin_dir)/tungate" stats --json --stats-file "$TG_STATS_FILE" |
			"$TG_PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
print(", ".join(f"{p}.{k} {v}" for p, c in d.items() if isinstance(c, dict) for k, v in c.items()
                if isinstance(v, int) and v and any(w in k for w in ("drop", "refus", "reset", "fail", "reject", "evict", "error"))) or "none")')"
	fi
	if ((ASAN)); then
		tg_skip "memory per connection: sanitizer build ($per bytes per connection reported only)"
	elif ((RSS_HELD > 0 && per < BYTES_PER_CONN_MAX)); then
		tg_pass "memory: $per bytes per connection (VmRSS, user space; bound $BYTES_PER_CONN_MAX)"
	else
		tg_fail_check "memory: $per bytes per connection, bound $BYTES_PER_CONN_MAX"
	fi
fi
# The rest of the hold; hold_conns.py counts every connection closed or reset meanwhile.
left=$((HOLD_S - (SECONDS - T_HELD) - 3))
((left > 0)) && sleep "$left"
dropped=$(jget "$TG_TMP/hold.json" dropped_later)
srv_open=$(jget "$TG_TMP/srv.json" open)
if [[ $dropped == 0 && $srv_open == "$est" ]] && ((est == CONNS)); then
	tg_pass "after ${HOLD_S}s: all $CONNS connections still open (client: none closed or reset; server holds $srv_open)"
else
	tg_fail_check "after ${HOLD_S}s: ${dropped:-?} closed or reset on the client side, the server holds ${srv_open:-?} of $est"
fi
wait "$HOLD_PID" 2>/dev/null
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_manyconns: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_manyconns: all checks passed"
exit 0
