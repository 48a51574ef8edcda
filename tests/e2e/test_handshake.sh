#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib.sh helpers called without arguments on purpose
# End-to-end: what a client's connect() sees through tungate, in both handshake modes.
#   client ns --TUN--> tungate (gateway ns) --veth--> flowpeer.py (server ns)
# A python client records connect()'s outcome and the first recv()'s, with times, for:
#   open      a listening port (banner server)           both modes: connect OK, recv data
#   greeting  20 connections in a row to that server,    both modes: every one gets it within
#             which sends "hello" at once on accept      2 s (the server speaks first, maybe
#                                                        before the client's handshake is done)
#   refused   a closed port on the server                consistent: connect ECONNREFUSED
#                                                        fast: connect OK, recv ECONNRESET
#   unreach   198.18.1.99 / 2001:db8:1::99 (no host:     consistent: connect EHOSTUNREACH
#             relayd's connect fails after ARP/ND, ~3s)  fast: connect OK, recv ECONNRESET
#   timeout   198.18.2.5 / 2001:db8:2::5, routed by the  consistent: no answer at all, the
#             gateway to the server, which does not      client's own 6 s timeout fires
#             forward and drops them silently;           fast: connect OK, recv ECONNRESET
#             tungate --connect-timeout 2                after ~2 s (1.5..4.5 s)
#   max-flows tungate --max-flows 5: 5 connections held  consistent: 6th connect ECONNREFUSED
#             open, then a 6th                           fast: 6th connect OK, recv ECONNRESET
#                                                        both: after the 5 close, new ones work,
#                                                        counter stackd.flows_refused went up
# "fast: connect OK, recv ECONNRESET" also accepts connect() itself failing with ECONNRESET (the
# reset won the race against the connecting thread; see FAST_RESET): both mean SYN-ACK, then RST.
# IPv4 and IPv6 for all but max-flows (IPv4). tungate is restarted for each mode and flag set.
# Kernel path (TG_E2E_KERNEL_PATH=1): the kernel's forwarding must give the consistent-mode
# answers (that is the point of "consistent"); max-flows is skipped.
#
# Usage: test_handshake.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

CLOSED_PORT=9999
DROP_NET=198.18.2.0/24
DROP_ADDR=198.18.2.5
DROP6_NET=2001:db8:2::/64
DROP6_ADDR=2001:db8:2::5
CONNECT_TIMEOUT=2 # tungate --connect-timeout for the timeout checks
PROBE_TIMEOUT=8   # client-side timeout of connect() and of the first recv()
SILENT_TIMEOUT=6  # client's connect() timeout where no answer at all is expected
MAX_FLOWS=5
BANNER_COUNT=20 # connections in a row to a server that sends its greeting at once

tg_init tge2e "$$"
tg_topology
tg_setup_ipv6
tg_start_flowpeer
tg_stats_setup # counters, when this tungate has them (TG_STATS_ARGS)

# The silent destination: the gateway routes it to the server, whose kernel does not forward
# (ip_forward=0, IPv6 forwarding=0) and has blackhole routes for it, so such packets are
# dropped without any ICMP error (without the IPv6 blackhole route the server would answer
# "no route", ENETUNREACH).
ip netns exec "$TG_NS_SERVER" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
ip -n "$TG_NS_SERVER" route add blackhole "$DROP_NET" || fail "blackhole $DROP_NET in $TG_NS_SERVER"
ip -n "$TG_NS_SERVER" -6 route add blackhole "$DROP6_NET" || fail "blackhole $DROP6_NET in $TG_NS_SERVER"
ip -n "$TG_NS_GW" route add "$DROP_NET" via "$TG_SERVER_ADDR" || fail "route $DROP_NET in $TG_NS_GW"
ip -n "$TG_NS_GW" -6 route add "$DROP6_NET" via "$TG_SERVER6_ADDR" || fail "route $DROP6_NET in $TG_NS_GW"

fam_name() { [[ $1 == *:* ]] && echo IPv6 || echo IPv4; }

# Routes for the extra destinations, after each (re)start of the gateway (a new TUN).
client_routes() {
	tg_client_route "$DROP_NET"
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		ip -n "$TG_NS_CLIENT" -6 route add "$DROP6_NET" via "$TG_KGW6_ADDR" || fail "route $DROP6_NET"
	else
		ip -n "$TG_NS_CLIENT" -6 route add "$DROP6_NET" dev "$TG_TUN" || fail "route $DROP6_NET"
	fi
}

# start_mode MODE [extra tungate args]: (re)start tungate with --handshake MODE. When this build
# rejects --handshake, that is a failed check; fast (the default) is then run without the flag.
start_mode() {
	local mode=$1
	shift
	local -a args=(--log-level info "${TG_STATS_ARGS[@]}" "$@")
	[[ $TG_KERNEL_PATH == 1 ]] && { [[ -n $TG_TUN ]] || { tg_start_gateway; client_routes; }; return 0; }
	if tg_tungate_accepts --handshake "$mode" "$@"; then
		args+=(--handshake "$mode")
	elif [[ $mode == fast ]] && tg_tungate_accepts "$@"; then
		tg_fail_check "tungate rejects --handshake fast ($("$(tg_bin_dir)/tungate" -n --handshake fast 2>&1 | head -n 1)); running the fast checks with the default mode"
	else
		tg_fail_check "tungate rejects: --handshake $mode $* ($("$(tg_bin_dir)/tungate" -n --handshake "$mode" "$@" 2>&1 | head -n 1)); the $mode checks with these flags cannot run"
		return 1
	fi
	tg_stop_gateway
	tg_start_gateway "${args[@]}"
	client_routes
	return 0
}

# probe LABEL ADDR PORT WANT [TIMEOUT [FIELD MIN MAX]]
# WANT: accepted outcomes, "CONNECT/RECV" pairs separated by spaces (RECV "-": no recv, connect
# failed). FIELD is ct (time connect() took) or rt (time until the first recv() returned).
probe() {
	local label=$1 addr=$2 port=$3 want=$4 to=${5:-$PROBE_TIMEOUT} tf=${6:-} tmin=${7:-} tmax=${8:-}
	local out c ct r rt t ok=0 w
	out=$(tg_flowpeer probe "$addr" "$port" --timeout "$to" 2>&1)
	if ! [[ $out =~ connect=([^ ]+)\ ct=([^ ]+)\ recv=([^ ]+)\ rt=([^ ]+) ]]; then
		tg_fail_check "$label: the probe said: ${out:-nothing}"
		return
	fi
	c=${BASH_REMATCH[1]} ct=${BASH_REMATCH[2]} r=${BASH_REMATCH[3]} rt=${BASH_REMATCH[4]}
	for w in $want; do
		[[ $w == "$c/$r" ]] && ok=1
	done
	local wanttext="want connect/recv: ${want// / or }"
	if [[ -n $tf ]]; then
		[[ $tf == ct || $r == - ]] && t=$ct || t=$rt
		{ tg_fcmp "$t" '>=' "$tmin" && tg_fcmp "$t" '<=' "$tmax"; } || ok=0
		wanttext+=", at ${tmin}..${tmax}s"
	fi
	local got
	got="connect() $c after ${ct}s, first recv() $r$([[ $r != - ]] && echo " after ${rt}s from the start")"
	if ((ok)); then
		tg_pass "$label: $got"
	else
		tg_fail_check "$label: $got ($wanttext)"
	fi
}

# Fast mode's "SYN-ACK at once, then a reset": the reset usually reaches an established socket
# (connect OK, recv ECONNRESET); when it arrives before the connecting thread runs, connect()
# itself returns ECONNRESET, which the kernel only reports for an established connection (a RST
# answering the SYN gives ECONNREFUSED), so both prove the handshake completed first.
FAST_RESET="OK/ECONNRESET ECONNRESET/-"

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

checks_basic() {
	local mode=$1 addr unused fam
	for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
		fam=$(fam_name "$addr")
		[[ $fam == IPv4 ]] && unused=$TG_UNUSED_ADDR || unused=$TG_UNUSED6_ADDR
		probe "[$mode] $fam open port" "$addr" "$TG_FP_BANNER_PORT" OK/DATA
		fp_check "[$mode] $fam server speaks first" banner "$addr" "$TG_FP_BANNER_PORT" --count "$BANNER_COUNT"
		if [[ $mode == fast ]]; then
			probe "[$mode] $fam closed port" "$addr" "$CLOSED_PORT" "$FAST_RESET"
			probe "[$mode] $fam unreachable host $unused" "$unused" "$TG_FP_BANNER_PORT" "$FAST_RESET"
		else
			probe "[$mode] $fam closed port" "$addr" "$CLOSED_PORT" ECONNREFUSED/-
			probe "[$mode] $fam unreachable host $unused" "$unused" "$TG_FP_BANNER_PORT" EHOSTUNREACH/-
		fi
	done
}

checks_timeout() {
	local mode=$1 addr fam
	for addr in "$DROP_ADDR" "$DROP6_ADDR"; do
		fam=$(fam_name "$addr")
		if [[ $mode == fast ]]; then
			probe "[$mode] $fam silently dropped destination $addr, --connect-timeout $CONNECT_TIMEOUT: reset" \
				"$addr" 80 "$FAST_RESET" "$PROBE_TIMEOUT" rt 1.5 4.5
		else
			probe "[$mode] $fam silently dropped destination $addr, --connect-timeout $CONNECT_TIMEOUT: no answer, the client's ${SILENT_TIMEOUT}s timeout fires" \
				"$addr" 80 TIMEOUT/- "$SILENT_TIMEOUT" ct $((SILENT_TIMEOUT - 1)) $((SILENT_TIMEOUT + 1))
		fi
	done
}

checks_maxflows() {
	local mode=$1 out want_extra before after
	before=$(tg_stat stackd flows_refused)
	[[ $mode == fast ]] && want_extra="connect=(OK [^ ]* recv=ECONNRESET|ECONNRESET [^ ]* recv=-)" ||
		want_extra="connect=ECONNREFUSED [^ ]* recv=-"
	out=$(tg_flowpeer maxflows "$TG_SERVER_ADDR" "$TG_FP_BANNER_PORT" "$MAX_FLOWS" 2>&1)
	if [[ $out =~ ^held=$MAX_FLOWS\ extra:\ $want_extra\ .*after_close=DATA ]]; then
		tg_pass "[$mode] --max-flows $MAX_FLOWS: $out"
	else
		tg_fail_check "[$mode] --max-flows $MAX_FLOWS: ${out:-nothing} (want held=$MAX_FLOWS, the next one $([[ $mode == fast ]] && echo "reset after the handshake" || echo "refused: RST to its SYN"), and after closing them a new connection gets data)"
	fi
	if [[ -z $before ]]; then
		tg_skip "[$mode] --max-flows $MAX_FLOWS: counter stackd.flows_refused (no counters from this tungate)"
		return
	fi
	if ! [[ $out =~ ^held=$MAX_FLOWS\  ]]; then
		tg_skip "[$mode] --max-flows $MAX_FLOWS: counter stackd.flows_refused (the limit was never reached)"
		return
	fi
	# Counters are published periodically: give them 3 s.
	local i
	for ((i = 0; i < 30; i++)); do
		after=$(tg_stat stackd flows_refused)
		((${after:-0} > before)) && break
		sleep 0.1
	done
	if ((${after:-0} - before >= 1)); then
		tg_pass "[$mode] --max-flows $MAX_FLOWS: counter stackd.flows_refused $before -> $after"
	else
		tg_fail_check "[$mode] --max-flows $MAX_FLOWS: counter stackd.flows_refused $before -> ${after:-?} (want +1 for the refused connection)"
	fi
}

if [[ $TG_KERNEL_PATH == 1 ]]; then
	start_mode consistent
	checks_basic kernel-path
	checks_timeout kernel-path
	tg_skip "max-flows: kernel path"
else
	for mode in fast consistent; do
		start_mode "$mode" && checks_basic "$mode"
		start_mode "$mode" --connect-timeout "$CONNECT_TIMEOUT" && checks_timeout "$mode"
		start_mode "$mode" --max-flows "$MAX_FLOWS" && checks_maxflows "$mode"
	done
fi
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_handshake: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_handshake: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
