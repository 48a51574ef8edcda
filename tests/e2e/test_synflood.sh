#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib.sh helpers called without arguments on purpose
# End-to-end: a SYN flood through the TUN must not stop real connections (issue #8).
#   client ns --TUN--> tungate (gateway ns) --veth--> httpd.py (server ns)
# From the client namespace, synflood.py sends bare SYNs over a raw socket to random ports
# and addresses of the server subnet 198.18.1.0/24 (which exists only in this test's
# namespaces), from random source ports and spoofed source addresses of the client subnet
# (so nobody answers the SYN-ACKs: every flood handshake stays half-open). Meanwhile a client
# makes real HTTP requests, spread over the flood, each on its own connection.
# (a) fast handshake: FLOOD_FAST SYNs over FLOOD_SECONDS s (lwIP answers each one).
# (b) consistent handshake: FLOOD_CONS SYNs over FLOOD_CONS_SECONDS s (each one held and
#     connected upstream by relayd; most destinations do not exist).
# Each: >= 99 % of the real requests succeed; the half-open handshakes (half_open, fast) or
# held SYNs (syns_held, consistent) stay within their caps (1024 and 4096; the oldest makes
# room for the newest, counted as half_open_evicted); the summed VmRSS of tunio, stackd and
# relayd stays within idle + RSS_BOUND_MIB (reported; not checked under ASan); afterwards the
# half-open count and the open flows return to their baseline; tungate's children all survive.
#
# Usage: test_synflood.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, no stats in this build).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

FLOOD="$TG_E2E_DIR/synflood.py"
FLOOD_FAST=${FLOOD_FAST:-100000}
FLOOD_SECONDS=${FLOOD_SECONDS:-10}
FLOOD_CONS=${FLOOD_CONS:-40000}
FLOOD_CONS_SECONDS=${FLOOD_CONS_SECONDS:-4}
REQUESTS_PER_S=20
HALF_OPEN_MAX=1024 # stackd/tcp_flow.c
HOLD_MAX=4096      # stackd/syn_hold.c
RSS_BOUND_MIB=64

if [[ $TG_KERNEL_PATH == 1 ]]; then
	echo "SKIP: test_synflood checks tungate's half-open limits (the kernel path has SYN cookies)"
	exit 77
fi
export TG_E2E_DEADLINE=${TG_E2E_DEADLINE:-150}
tg_init tge2e "$$"
tg_topology
tg_stats_setup || { echo "SKIP: this tungate has no --stats-file"; exit 77; }
tg_start_httpd
echo hello >"$TG_TMP/www/hello.txt"
ASAN=0
grep -q __asan_init "$(tg_bin_dir)/stackd" 2>/dev/null && ASAN=1

jget() { "$TG_PYTHON" -c 'import json, sys
try:
    v = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
    for k in sys.argv[2:]:
        v = v.get(k, "") if isinstance(v, dict) else ""
except (OSError, ValueError, IndexError):
    v = ""
print(json.dumps(v) if isinstance(v, dict) else v)' "$@"; }

# run_case LABEL GAUGE CAP SYNS SECONDS [tungate args]
run_case() {
	local label=$1 gauge=$2 cap=$3 syns=$4 secs=$5
	shift 5
	tg_stop_gateway
	tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}" "$@"
	local pids="" c p
	for c in tunio stackd relayd; do
		p=$(tg_gw_child "$c")
		[[ -n $p ]] || fail "no $c child"
		pids+="$p "
	done
	# One request first: the server's neighbour entry is fresh, the path works.
	tg_client curl -sS --max-time 5 "http://$TG_SERVER_ADDR:$TG_HTTP_PORT/hello.txt" >/dev/null ||
		fail "$label: no request works before the flood"
	sleep 1
	local rss_base flows_base evicted_base
	# shellcheck disable=SC2086
	rss_base=$(tg_rss_kib $pids)
	flows_base=$(tg_stat stackd flows_open)
	evicted_base=$(tg_stat stackd half_open_evicted)
	local nreq=$((REQUESTS_PER_S * secs))
	tg_say "$label: $syns SYNs over ${secs}s, $nreq real requests meanwhile (idle RSS $((rss_base / 1024)) MiB)"
	tg_client timeout $((secs + 40)) "$TG_PYTHON" "$FLOOD" flood --net "$TG_SERVER_NET" \
		--src-net "$TG_CLIENT_NET" --count "$syns" --seconds "$secs" >"$TG_TMP/flood.out" 2>&1 &
	local fpid=$!
	tg_client timeout $((secs + 40)) "$TG_PYTHON" "$FLOOD" requests \
		--url "http://$TG_SERVER_ADDR:$TG_HTTP_PORT/hello.txt" --expect hello --count "$nreq" \
		--seconds "$secs" --timeout 5 >"$TG_TMP/req.out" 2>&1 &
	local rpid=$!
	local rss_max=0 gauge_max=0 r g
	while kill -0 "$fpid" 2>/dev/null || kill -0 "$rpid" 2>/dev/null; do
		# shellcheck disable=SC2086
		r=$(tg_rss_kib $pids)
		((r > rss_max)) && rss_max=$r
		g=$(tg_stat stackd "$gauge")
		[[ -n $g ]] && ((g > gauge_max)) && gauge_max=$g
		sleep 0.5
	done
	wait "$fpid"
	wait "$rpid"
	local sent ok
	sent=$(jget "$TG_TMP/flood.out" sent)
	ok=$(jget "$TG_TMP/req.out" ok)
	tg_say "$label: flood $(tail -n 1 "$TG_TMP/flood.out"); requests $(tail -n 1 "$TG_TMP/req.out")"
	if [[ -n $sent ]] && ((sent >= syns * 95 / 100)); then
		tg_pass "$label: $sent SYNs sent through the TUN"
	else
		tg_fail_check "$label: the flood sent only '${sent:-?}' of $syns SYNs ($(tail -n 2 "$TG_TMP/flood.out"))"
	fi
	if [[ -n $ok ]] && ((ok * 100 >= nreq * 99)); then
		tg_pass "$label: $ok/$nreq real HTTP requests succeeded during the flood (>= 99 %)"
	else
		tg_fail_check "$label: ${ok:-?}/$nreq real HTTP requests succeeded during the flood, want >= 99 % ($(tail -n 1 "$TG_TMP/req.out"))"
	fi
	local evicted
	evicted=$(tg_stat stackd half_open_evicted)
	if ((gauge_max <= cap && evicted > evicted_base)); then
		tg_pass "$label: $gauge peaked at $gauge_max (cap $cap), half_open_evicted $((evicted - evicted_base))"
	else
		tg_fail_check "$label: $gauge peaked at $gauge_max (cap $cap), half_open_evicted $evicted_base -> $evicted (want more)"
	fi
	if ((ASAN)); then
		tg_skip "$label: RSS bound: sanitizer build (ASan quarantine); max $((rss_max / 1024)) MiB reported only"
	elif ((rss_max > 0 && rss_max <= rss_base + RSS_BOUND_MIB * 1024)); then
		tg_pass "$label: tunio+stackd+relayd VmRSS max $((rss_max / 1024)) MiB during the flood (idle $((rss_base / 1024)) MiB, bound idle + $RSS_BOUND_MIB MiB)"
	else
		tg_fail_check "$label: tunio+stackd+relayd VmRSS max $((rss_max / 1024)) MiB during the flood, bound $(((rss_base / 1024) + RSS_BOUND_MIB)) MiB"
	fi
	# Afterwards: the flood's half-open handshakes time out (lwIP: 20 s in SYN_RCVD; held
	# SYNs: relayd's answer or the connect timeout), the flows are back where they were.
	local end=$((SECONDS + 30)) now_g now_f
	while :; do
		now_g=$(tg_stat stackd "$gauge")
		now_f=$(tg_stat stackd flows_open)
		[[ $now_g == 0 && $now_f == "$flows_base" ]] && break
		((SECONDS >= end)) && break
		sleep 1
	done
	if [[ $now_g == 0 && $now_f == "$flows_base" ]]; then
		tg_pass "$label: back to baseline after the flood: $gauge 0, flows_open $now_f"
	else
		tg_fail_check "$label: 30 s after the flood: $gauge ${now_g:-?} (want 0), flows_open ${now_f:-?} (want $flows_base)"
	fi
	tg_client curl -sS --max-time 5 "http://$TG_SERVER_ADDR:$TG_HTTP_PORT/hello.txt" >/dev/null &&
		tg_pass "$label: a request after the flood works" ||
		tg_fail_check "$label: a request after the flood failed"
	tg_say "$label: stackd counters: refused $(tg_stat stackd flows_refused), half_open_evicted $(tg_stat stackd half_open_evicted), drop_no_slot_a $(tg_stat stackd drop_no_slot_a); relayd open_failed_nofile $(tg_stat relayd open_failed_nofile)"
}

run_case "(a) fast" half_open "$HALF_OPEN_MAX" "$FLOOD_FAST" "$FLOOD_SECONDS"
run_case "(b) consistent" syns_held "$HOLD_MAX" "$FLOOD_CONS" "$FLOOD_CONS_SECONDS" \
	--handshake consistent --connect-timeout 3

tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_synflood: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_synflood: all checks passed"
exit 0
