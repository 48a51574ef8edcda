#!/usr/bin/env bash
# End-to-end: a stalled reader must slow its writer, not fill tungate's memory.
#   client ns --TUN--> tungate (gateway ns) --veth--> flowpeer.py bulk (server ns)
# (a) download: the server writes 1 GiB as fast as it can; the client reads 1 MiB, stops
#     reading for 10 s, then reads the rest
# (b) upload: the client writes 1 GiB as fast as it can; the server reads 1 MiB, stops reading
#     for 10 s, then reads the rest
# Each: the bytes arrive byte-exact (sha256 of all 1 GiB on both ends); the connection ends
# cleanly (FIN both ways, no reset); during the pause the summed VmRSS of tunio + stackd + relayd, sampled
# every second, stays below the idle baseline plus RSS_BOUND_MIB; and the writer is really held
# back: it advances less than STALL_MIB in the last 5 s of the pause, and what it has written
# beyond what the reader took fits in the socket buffers on the path at their maxima (tcp_rmem
# and tcp_wmem of the three namespaces) plus 1 MiB (tungate's 256 KiB windows).
# then tungate must still be running, and SIGTERM must stop it cleanly.
#
# The RSS bound (per stalled flow, windows from docs/protocol.md):
#   link B window, one direction           256 KiB   (stackd's or relayd's flow buffer)
#   lwIP send buffer / receive window      256 KiB each
#   relayd's socket buffers                kernel memory, not in relayd's RSS
#   => well under 2 MiB of heap per stalled flow. What does grow RSS without any leak is the
# first touch of the shared-memory pools (VmRSS counts shared pages in every process that maps
# them, so each link counts twice): link B 2 x 512 slots x 16 KiB = 16 MiB, link A
# 2 x 1024 x 1664 B = 3.3 MiB, mapped by two processes each: up to 39 MiB over an idle baseline
# taken before any traffic. Plus malloc arenas and lwIP pbufs: 64 MiB in all is the bound.
# Buffering without backpressure would instead grow by the writer's rate times 10 s (GBs).
#
# Usage: test_backpressure.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

SIZE=$((1024 * 1024 * 1024))
PAUSE_AFTER=$((1024 * 1024))
PAUSE=10
RSS_BOUND_MIB=64
STALL_MIB=1 # the writer may still advance this much in the last 5 s of the pause
BULK_PORT=9200
export TG_FP_CLIENT_TIMEOUT=150

tg_init tge2e "$$"
tg_topology
tg_start_gateway --log-level info

# Bytes the kernel may hold in socket buffers on the path: every namespace's tcp_rmem and
# tcp_wmem maxima (a conservative sum for either direction), plus 1 MiB for tungate's windows.
INFLIGHT_MAX=$((1024 * 1024))
for ns in "$TG_NS_CLIENT" "$TG_NS_GW" "$TG_NS_SERVER"; do
	r=$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_rmem | awk '{print $3}')
	w=$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_wmem | awk '{print $3}')
	INFLIGHT_MAX=$((INFLIGHT_MAX + r + w))
done

PIDS=
RSS_BASE=0
if [[ $TG_KERNEL_PATH != 1 ]]; then
	for c in tunio stackd relayd; do
		p=$(tg_gw_child "$c")
		[[ -n $p ]] || fail "no $c child of tungate (pid $TG_GW_PID)"
		PIDS+=${PIDS:+,}$p
	done
	sleep 0.5
	# shellcheck disable=SC2086
	RSS_BASE=$(tg_rss_kib ${PIDS//,/ })
	tg_say "tunio,stackd,relayd = $PIDS: idle VmRSS sum $((RSS_BASE / 1024)) MiB ($RSS_BASE KiB)"
fi

# json FILE KEY: one value from a bulk result file ('' if missing)
json() { "$TG_PYTHON" -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except (OSError, ValueError): v = ""
print(" ".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2"; }

# run_case LABEL DIRECTION: DIRECTION down (server writes) or up (client writes)
run_case() {
	local label=$1 dir=$2 n=$3
	local reader writer wprog=$TG_TMP/progress.$n srv_out=$TG_TMP/srv.$n.json cli_out=$TG_TMP/cli.$n.json
	local -a pause_args=(--pause-after "$PAUSE_AFTER" --pause "$PAUSE" --rss-pids "$PIDS" --peer-progress "$wprog")
	local -a srv_args cli_args
	if [[ $dir == down ]]; then
		srv_args=(--role send --progress-file "$wprog")
		cli_args=(--role recv "${pause_args[@]}")
		reader=$cli_out writer=$srv_out
	else
		srv_args=(--role recv "${pause_args[@]}")
		cli_args=(--role send --progress-file "$wprog")
		reader=$srv_out writer=$cli_out
	fi
	rm -f "$TG_TMP/bulk.ready"
	tg_start_bg "bulk-server.$n" "$TG_NS_SERVER" timeout 150 "$TG_PYTHON" "$TG_FLOWPEER" bulk --listen \
		--addr "$TG_SERVER_ADDR" --port "$BULK_PORT" --size "$SIZE" --ready-file "$TG_TMP/bulk.ready" \
		--out "$srv_out" "${srv_args[@]}"
	local spid=$TG_BG_PID t0 el
	tg_wait_for 10 "bulk server ready" test -e "$TG_TMP/bulk.ready" || fail "bulk server did not start"
	t0=$(tg_now)
	tg_flowpeer bulk --connect --addr "$TG_SERVER_ADDR" --port "$BULK_PORT" --size "$SIZE" \
		--out "$cli_out" "${cli_args[@]}" >"$TG_TMP/bulk-client.$n.log" 2>&1
	wait "$spid"
	el=$(tg_elapsed "$t0")

	local wsha wbytes rsha rbytes werr rerr
	wsha=$(json "$writer" sha256) wbytes=$(json "$writer" bytes) werr=$(json "$writer" error)
	rsha=$(json "$reader" sha256) rbytes=$(json "$reader" bytes) rerr=$(json "$reader" error)
	[[ -n $werr ]] && werr+=" in $(json "$writer" error_stage)"
	[[ -n $rerr ]] && rerr+=" in $(json "$reader" error_stage)"
	if [[ -n $rsha && $rsha == "$wsha" && $rbytes == "$SIZE" && $wbytes == "$SIZE" ]]; then
		tg_pass "$label: $SIZE bytes byte-exact (sha256 $rsha) with a ${PAUSE}s reader stall, ${el}s, $(tg_rate "$SIZE" "$el") overall"
	else
		tg_fail_check "$label: writer ${wbytes:-?} bytes sha256 ${wsha:-?} ${werr:+error $werr}, reader ${rbytes:-?} bytes sha256 ${rsha:-?} ${rerr:+error $rerr} (want $SIZE bytes, same sha256), ${el}s"
		cat "$TG_TMP/bulk-client.$n.log" "$TG_TMP/bulk-server.$n.log" 2>/dev/null | tail -n 5
	fi
	# Both ends close with FIN (the writer's shutdown, then the reader's close): no reset.
	if [[ -z $werr$rerr && -n $wsha && -n $rsha ]]; then
		tg_pass "$label: clean close: writer and reader both saw EOF, no error"
	else
		tg_fail_check "$label: unclean close: writer ${werr:-ok}, reader ${rerr:-ok} (want FIN both ways, no reset)"
	fi

	local before five_before at_end inflight moved
	before=$(json "$reader" read_before_pause)
	five_before=$(json "$reader" peer_5s_before_pause_end)
	at_end=$(json "$reader" peer_at_pause_end)
	if [[ -n $at_end && -n $five_before && -n $before ]] && ((at_end >= 0)); then
		inflight=$((at_end - before))
		moved=$((at_end - five_before))
		if ((moved < STALL_MIB * 1024 * 1024 && inflight <= INFLIGHT_MAX)); then
			tg_pass "$label: writer held back: $((inflight / 1024)) KiB written beyond what the reader took (bound $((INFLIGHT_MAX / 1024)) KiB: socket buffers at their maxima + 1 MiB), $((moved / 1024)) KiB of it in the last 5s of the stall (bound ${STALL_MIB} MiB)"
		else
			tg_fail_check "$label: writer not held back: $((inflight / 1024)) KiB written beyond what the reader took (bound $((INFLIGHT_MAX / 1024)) KiB), $((moved / 1024)) KiB of it in the last 5s of the stall (bound ${STALL_MIB} MiB)"
		fi
	else
		tg_fail_check "$label: no stall measurements from the reader (read_before_pause='$before', writer at pause end='$at_end')"
	fi

	if [[ $TG_KERNEL_PATH == 1 ]]; then
		tg_skip "$label: tungate RSS: kernel path"
		return
	fi
	# AddressSanitizer keeps freed memory in quarantine (256 MiB per process by default), so
	# RSS says nothing about tungate's own bound there: the normal build checks it.
	if grep -q __asan_init "$(tg_bin_dir)/stackd" 2>/dev/null; then
		tg_skip "$label: tungate RSS bound: sanitizer build (ASan quarantine); checked in the normal build"
		return
	fi
	local samples max=0 s ok=1 bound=$((RSS_BASE + RSS_BOUND_MIB * 1024))
	samples=$(json "$reader" rss_kib)
	[[ -n $samples ]] || ok=0
	for s in $samples; do
		((s < 0)) && ok=0
		((s > max)) && max=$s
	done
	((max <= bound)) || ok=0
	local mib_list
	mib_list=$(for s in $samples; do printf '%d ' $((s / 1024)); done)
	if ((ok)); then
		tg_pass "$label: tunio+stackd+relayd VmRSS during the stall ${mib_list}MiB, max $((max / 1024)) MiB = idle $((RSS_BASE / 1024)) + $(((max - RSS_BASE) / 1024)) MiB (bound: idle + $RSS_BOUND_MIB MiB)"
	else
		tg_fail_check "$label: tunio+stackd+relayd VmRSS during the stall: ${mib_list:-no samples}MiB (-1: a process was gone), max $((max / 1024)) MiB, bound idle $((RSS_BASE / 1024)) + $RSS_BOUND_MIB MiB"
	fi
}

run_case "(a) download, client stalls" down 1
run_case "(b) upload, server stalls" up 2
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_backpressure: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_backpressure: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
