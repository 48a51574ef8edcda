#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c scripts expand in the inner shell
# End-to-end: crash isolation. Each child is killed with SIGKILL while traffic flows:
#   (a) tunio: the TUN stays, tunio comes back, a transfer running at the time completes
#       byte-exact (stackd kept every TCP state);
#   (b) stackd: tunio and relayd keep running, relayd closes that epoch's sockets (fd count
#       back to its baseline), a new connection works again: recovery time is reported;
#   (c) relayd: the same the other way round;
#   (d) 50 kill/restart cycles: no fd or shared-memory mapping is left behind, service works;
#   (e) a child that cannot start: tungate backs off, gives up and exits non-zero, naming it.
#
# Usage: test_crash.sh [BIN_DIR]
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

URL=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 3)
RECOVERY_LIMIT=10 # seconds; the target is under 1 s and is reported
CYCLES=50

tg_init tgcrash "$$"
if [[ $TG_KERNEL_PATH == 1 ]]; then
	tg_skip "crash isolation needs tungate (kernel path requested)"
	exit 77
fi
tg_topology
tg_start_httpd
tg_start_gateway --log-level info

digest() { "$TG_PYTHON" "$TG_HTTPD" digest; }

# Waits until tungate has a child NAME whose pid is not OLD; prints it.
wait_new_child() {
	local name=$1 old=$2 pid i
	for ((i = 0; i < 100; i++)); do
		pid=$(tg_gw_child "$name")
		if [[ -n $pid && $pid != "$old" ]]; then
			echo "$pid"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Seconds until a small GET works again (fails after RECOVERY_LIMIT).
time_to_recover() {
	local t0 want got
	want=$("$TG_PYTHON" "$TG_HTTPD" sha256 65536 5)
	t0=$(tg_now)
	while tg_fcmp "$(tg_elapsed "$t0")" "<" "$RECOVERY_LIMIT"; do
		got=$(tg_client "${CURL[@]}" --max-time 2 "$URL/bytes/65536?seed=5" 2>/dev/null | digest)
		if [[ $got == "$want 65536" ]]; then
			tg_elapsed "$t0"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

memfd_maps() { grep -c 'memfd:' "/proc/$1/maps" 2>/dev/null || echo -1; }

# Waits (up to 5 s) for process PID to have at most N open fds; prints the last count.
wait_fds_at_most() {
	local pid=$1 n=$2 cur i
	for ((i = 0; i < 50; i++)); do
		cur=$(tg_fd_count "$pid")
		((cur <= n)) && break
		sleep 0.1
	done
	echo "$cur"
}

# (a) ------------------------------------------------------------------------------------------
check_tunio_killed() {
	local size=$((100 * 1024 * 1024)) want got rc old new dev_before dev_after
	want=$("$TG_PYTHON" "$TG_HTTPD" sha256 "$size" 41)
	old=$(tg_gw_child tunio)
	dev_before=$(ip -n "$TG_NS_CLIENT" -o link show "$TG_TUN" 2>/dev/null | awk '{print $2}')
	# Rate-limited so that the transfer is surely running when tunio dies.
	tg_client "${CURL[@]}" --max-time 120 --limit-rate 25M "$URL/bytes/$size?seed=41" \
		2>"$TG_TMP/a.err" | digest >"$TG_TMP/a.out" &
	local bg=$!
	sleep 1.5
	kill -KILL "$old"
	new=$(wait_new_child tunio "$old")
	wait "$bg"
	rc=$?
	got=$(cat "$TG_TMP/a.out")
	dev_after=$(ip -n "$TG_NS_CLIENT" -o link show "$TG_TUN" 2>/dev/null | awk '{print $2}')
	if [[ -n $new && $got == "$want $size" && -n $dev_after && $dev_after == "$dev_before" ]]; then
		tg_pass "(a) tunio killed mid-transfer: restarted (pid $old -> $new), TUN $dev_after kept, $size bytes byte-exact"
	else
		tg_fail_check "(a) tunio killed: new pid '${new:-none}', TUN '$dev_before' -> '${dev_after:-gone}', got '${got:-nothing}' want '$want $size' (curl exit $rc: $(head -c 200 "$TG_TMP/a.err"))"
	fi
}

# (b) and (c) -----------------------------------------------------------------------------------
check_killed() {
	local tag=$1 victim=$2 s1=$3 s2=$4 old p1 p2 q1 q2 fds_base fds_after t new
	old=$(tg_gw_child "$victim")
	p1=$(tg_gw_child "$s1")
	p2=$(tg_gw_child "$s2")
	fds_base=$(tg_fd_count "$(tg_gw_child relayd)")
	[[ $victim == relayd ]] && fds_base=-1
	# Flows in flight at the time of death: they may be reset, they must not leak.
	local -a bg=()
	for i in 1 2 3 4; do
		tg_client "${CURL[@]}" --max-time 20 --limit-rate 2M -o /dev/null \
			"$URL/bytes/$((50 * 1024 * 1024))?seed=$i" 2>/dev/null &
		bg+=($!)
	done
	sleep 1
	kill -KILL "$old"
	new=$(wait_new_child "$victim" "$old")
	t=$(time_to_recover)
	local rec=$?
	wait "${bg[@]}" 2>/dev/null
	q1=$(tg_gw_child "$s1")
	q2=$(tg_gw_child "$s2")
	if [[ $victim == stackd ]]; then
		fds_after=$(wait_fds_at_most "$q2" "$fds_base")
	else
		fds_after=-1
	fi
	if [[ -n $new ]] && ((rec == 0)) && [[ $p1 == "$q1" && $p2 == "$q2" ]] &&
		((fds_after <= fds_base)); then
		tg_pass "($tag) $victim killed: $s1 and $s2 kept running (pids $p1, $p2), $victim back as pid $new, new connections work after ${t}s (target < 1 s)$([[ $victim == stackd ]] && echo ", relayd fds $fds_after <= baseline $fds_base")"
	else
		tg_fail_check "($tag) $victim killed: new pid '${new:-none}', recovered: $([[ $rec == 0 ]] && echo "after ${t}s" || echo "no, within ${RECOVERY_LIMIT}s"), $s1 $p1 -> ${q1:-gone}, $s2 $p2 -> ${q2:-gone}, relayd fds $fds_after (baseline $fds_base)"
	fi
}

# (d) ------------------------------------------------------------------------------------------
check_cycles() {
	local names=(tunio stackd relayd) i victim old new fail=0 gw_fds_base gw_fds_after maps_s maps_t t0
	gw_fds_base=$(tg_fd_count "$TG_GW_PID")
	t0=$(tg_now)
	for ((i = 0; i < CYCLES; i++)); do
		victim=${names[i % 3]}
		old=$(tg_gw_child "$victim")
		[[ -n $old ]] && kill -KILL "$old"
		if ! new=$(wait_new_child "$victim" "$old") || ! time_to_recover >/dev/null; then
			fail=1
			echo "  cycle $i: $victim did not come back into service"
			break
		fi
	done
	gw_fds_after=$(tg_fd_count "$TG_GW_PID")
	maps_s=$(memfd_maps "$(tg_gw_child stackd)")
	maps_t=$(memfd_maps "$(tg_gw_child tunio)")
	# stackd maps links A and B, tunio link A: exactly one mapping each, none from old epochs.
	if ((fail == 0 && gw_fds_after == gw_fds_base && maps_s == 2 && maps_t == 1)); then
		tg_pass "(d) $CYCLES kill/restart cycles in $(tg_elapsed "$t0")s: tungate fds $gw_fds_after (baseline $gw_fds_base), stackd maps $maps_s links, tunio $maps_t, service works"
	else
		tg_fail_check "(d) $CYCLES cycles: failed=$fail, tungate fds $gw_fds_base -> $gw_fds_after, stackd memfd maps $maps_s (want 2), tunio $maps_t (want 1)"
	fi
}

# (e) ------------------------------------------------------------------------------------------
check_cannot_start() {
	local dir=$TG_TMP/badbin log=$TG_TMP/storm.log rc t0 el bin
	bin=$(tg_bin_dir)
	mkdir -p "$dir"
	ln -s "$(readlink -f "$bin/tunio")" "$dir/tunio"
	ln -s "$(readlink -f "$bin/relayd")" "$dir/relayd"
	printf '#!/bin/sh\necho "stackd stand-in: refusing to start" >&2\nexit 3\n' >"$dir/stackd"
	chmod +x "$dir/stackd"
	t0=$(tg_now)
	ip netns exec "$TG_NS_GW" timeout 60 "$bin/tungate" --libexec-dir "$dir" \
		--tun-name tgstorm0 --stats-file "$TG_TMP/storm.stats" >"$log" 2>&1
	rc=$?
	el=$(tg_elapsed "$t0")
	local starts
	starts=$(grep -c 'refusing to start' "$log")
	if ((rc != 0 && rc != 124)) && grep -q 'stackd.*giving up' "$log" && ((starts >= 3 && starts <= 10)) &&
		tg_fcmp "$el" ">" 0.5; then
		tg_pass "(e) a stackd that cannot start: $starts attempts with backoff over ${el}s, then tungate exits $rc: $(grep 'giving up' "$log" | head -n 1)"
	else
		tg_fail_check "(e) cannot start: exit $rc after ${el}s, $starts attempts; log: $(tail -n 5 "$log")"
	fi
}

check_tunio_killed
check_killed b stackd tunio relayd
check_killed c relayd tunio stackd
check_cycles
check_cannot_start
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 200
	echo "test_crash: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_crash: all checks passed"
exit 0
