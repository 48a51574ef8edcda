#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib.sh helpers called without arguments on purpose
# End-to-end: UDP through tungate, IPv4 and IPv6.
#   client ns --TUN--> tungate --udp-timeout 2 (gateway ns) --veth--> dnsmasq, iperf3 -s,
#                                                                     flowpeer.py (server ns)
# (a) DNS: dig @198.18.1.2 and dig -6 @2001:db8:1::2, A and AAAA of tungate.test, answered by
#     dnsmasq (198.18.1.7, 2001:db8:1::7)
# (b) iperf3 -u -w 4M at 50 Mbit/s for 3 s, client -> server: loss below 5 % (the benchmark
#     measures exact numbers; this only proves a steady stream gets through)
# (c) echo: 1000 datagrams of random sizes from 1 byte to the largest the family allows
#     (IPv4 65507, IPv6 65487: lwIP's reassembled IPv6 packet, header included, must fit 16 bits),
#     fragmented on the TUN, one at a time, each echo byte-exact, at most 3 retries each
# (d) a connected UDP socket sending to a closed port sees ECONNREFUSED on recv() (the server's
#     ICMP port unreachable, relayed back by tungate)
# (e) NAT idle timeout (--udp-timeout 2): two datagrams 0.3 s apart share a NAT entry (the server
#     sees the same source port); after 4 s of silence a new datagram still gets its answer,
#     through a new entry (a new source port at the server)
# (g) burst: 2000 datagrams of 1400 bytes to the echo server in bursts of 50 sent back to back,
#     each burst waiting for its echoes: all come back, in order, byte-exact (IPv4 and IPv6);
#     through tungate the bursts must have crossed link B packed (stackd udp_batches_up and
#     udp_batches_down > 0: several datagrams of one flow in one slot, both ways)
# (f) no leaks: once every entry has timed out (--udp-timeout 2 --dns-timeout 2), relayd's open
#     fds are back to the idle baseline and stackd counts no UDP flow (udp_flows_open)
# then no child may have crashed or restarted, tungate must still be running, and SIGTERM must
# stop it cleanly.
#
# Usage: test_udp.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

DNS_NAME=tungate.test
DNS_A=198.18.1.7
DNS_AAAA=2001:db8:1::7
IPERF_PORT=5201
IPERF_RATE=50M
IPERF_SECS=3
MAX_LOSS=5 # percent
# Socket buffers of both iperf3 ends: with the default ones, a busy 2-core machine loses 4-6 %
# at the receiving socket now and then even on the kernel path (scheduling, not the network).
IPERF_BUF=4M
ECHO_COUNT=1000
UDP_TIMEOUT=2
IDLE_GAP=4
CLOSED_PORT=9998

tg_init tge2e "$$"
for t in dnsmasq dig iperf3; do
	command -v "$t" >/dev/null || fail "$t not found: run scripts/install-deps.sh"
done
tg_topology
tg_setup_ipv6
tg_start_flowpeer

tg_start_dnsmasq "$DNS_NAME" "$DNS_A" "$DNS_AAAA"
tg_start_iperf3_server "$IPERF_PORT"

tg_stats_setup # counters, when this tungate has them (TG_STATS_ARGS)
UDP_TIMEOUT_OK=1
if tg_tungate_accepts --udp-timeout "$UDP_TIMEOUT" --dns-timeout "$UDP_TIMEOUT"; then
	tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}" --udp-timeout "$UDP_TIMEOUT" --dns-timeout "$UDP_TIMEOUT"
else
	UDP_TIMEOUT_OK=0
	tg_fail_check "tungate rejects --udp-timeout $UDP_TIMEOUT --dns-timeout $UDP_TIMEOUT ($("$(tg_bin_dir)/tungate" -n --udp-timeout "$UDP_TIMEOUT" --dns-timeout "$UDP_TIMEOUT" 2>&1 | head -n 1)); running with the default UDP timeouts"
	tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}"
fi
tg_relayd_fd_idle

fam_name() { [[ $1 == *:* ]] && echo IPv6 || echo IPv4; }

# (a) ------------------------------------------------------------------------------------------
check_dns() {
	local server=$1 type=$2 want=$3 flag out rc
	[[ $server == *:* ]] && flag=-6 || flag=-4
	out=$(tg_client timeout 20 dig "$flag" +short +time=2 +tries=2 "@$server" "$DNS_NAME" "$type" 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $out == "$want" ]]; then
		tg_pass "(a) dig $flag @$server $DNS_NAME $type: $out"
	else
		tg_fail_check "(a) dig $flag @$server $DNS_NAME $type: '$(echo "$out" | tr '\n' ' ' | head -c 300)' (exit $rc), want $want"
	fi
}

# (b) ------------------------------------------------------------------------------------------
check_iperf() {
	local server=$1 fam flag out rc summary
	fam=$(fam_name "$server")
	[[ $fam == IPv6 ]] && flag=-6 || flag=-4
	# iperf3 waits 30 s for its UDP stream when no datagram gets through: look first.
	if ! out=$(tg_flowpeer udp-echo "$server" "$TG_FP_UDP_PORT" --count 3 --max-size 100 --seed 3 2>&1); then
		tg_fail_check "(b) $fam iperf3 -u not run: not even 3 small datagrams are echoed ($out)"
		return
	fi
	out=$(tg_client timeout 40 iperf3 "$flag" -c "$server" -p "$IPERF_PORT" -u -b "$IPERF_RATE" -t "$IPERF_SECS" -w "$IPERF_BUF" -J 2>&1)
	rc=$?
	summary=$(printf '%s' "$out" | "$TG_PYTHON" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("ERR no JSON from iperf3"); sys.exit()
if "error" in d:
    print("ERR " + d["error"]); sys.exit()
s = d["end"].get("sum_received") or d["end"]["sum"]
print("%.3f %d %d %.1f %.3f" % (s["lost_percent"], s["lost_packets"], s["packets"],
      s["bits_per_second"] / 1e6, s.get("jitter_ms", 0)))' 2>&1)
	local loss lost pkts mbps jitter
	read -r loss lost pkts mbps jitter <<<"$summary"
	if ((rc == 0)) && [[ $loss != ERR ]] && ((pkts > 0)) && tg_fcmp "$loss" '<' "$MAX_LOSS"; then
		tg_pass "(b) $fam iperf3 -u -b $IPERF_RATE -t $IPERF_SECS -w $IPERF_BUF: loss $loss % ($lost of $pkts datagrams), $mbps Mbit/s, jitter $jitter ms (bound: loss < $MAX_LOSS %)"
	else
		tg_fail_check "(b) $fam iperf3 -u -b $IPERF_RATE -t $IPERF_SECS -w $IPERF_BUF: exit $rc, ${summary:-no summary} (want loss < $MAX_LOSS %)"
		[[ $loss == ERR || -z $summary ]] && echo "$out" | tail -n 5
	fi
}

# (c) (d) -------------------------------------------------------------------------------------
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

# (g) ------------------------------------------------------------------------------------------
check_batches() {
	local up down i
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		tg_skip "(g) UDP batches on link B: kernel path"
		return
	fi
	# stackd publishes its counters once a second.
	for ((i = 0; i < 30; i++)); do
		if ! up=$(tg_stat stackd udp_batches_up) || ! down=$(tg_stat stackd udp_batches_down); then
			tg_skip "(g) UDP batches on link B: this tungate has no such counters"
			return
		fi
		((up > 0 && down > 0)) && break
		sleep 0.1
	done
	if ((up > 0 && down > 0)); then
		tg_pass "(g) the bursts crossed link B packed: $up UDP_BATCH slots up, $down down ($(tg_stat stackd udp_up) datagrams up, $(tg_stat stackd udp_down) down in all)"
	else
		tg_fail_check "(g) UDP batches on link B: $up slots up, $down down (want both > 0: bursts of one flow share slots)"
	fi
	# relayd's side of the same: what it took and packed, and no batch refused as malformed.
	local rx tx bad
	for ((i = 0; i < 30; i++)); do
		rx=$(tg_stat relayd udp_batches_received) || rx=0
		tx=$(tg_stat relayd udp_batches_sent) || tx=0
		bad=$(tg_stat relayd udp_bad_batches) || bad=-1
		((rx > 0 && tx > 0)) && break
		sleep 0.1
	done
	if ((rx > 0 && tx > 0 && bad == 0)); then
		tg_pass "(g) relayd received $rx batches and sent $tx, none malformed"
	else
		tg_fail_check "(g) relayd's batch counters: received $rx, sent $tx, malformed $bad (want > 0, > 0, 0)"
	fi
}

# (f) ------------------------------------------------------------------------------------------
check_expiry() {
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		tg_skip "(f) NAT entries expire: kernel path"
		return
	fi
	local n i open=x limit=$((UDP_TIMEOUT * 5 + 5))
	((UDP_TIMEOUT_OK)) || limit=15
	for ((i = 0; i < limit * 10; i++)); do
		n=$(tg_fd_count "$RELAYD")
		open=$(tg_stat stackd udp_flows_open) || open=n/a
		((n >= 0 && n <= FD_BASE)) && [[ $open == 0 || $open == n/a ]] && break
		((n < 0)) && break
		sleep 0.1
	done
	if ((n < 0)); then
		tg_fail_check "(f) relayd (pid $RELAYD) is gone"
	elif ((n <= FD_BASE)) && [[ $open == 0 || $open == n/a ]]; then
		tg_pass "(f) every UDP NAT entry expired $((i / 10)).$((i % 10))s after the last datagram (--udp-timeout $UDP_TIMEOUT): relayd back to $n open fds (idle baseline $FD_BASE), stackd udp_flows_open $open (of $(tg_stat stackd udp_flows_total || echo n/a) created)"
	else
		tg_fail_check "(f) UDP NAT entries left ${limit}s after the last datagram (--udp-timeout $UDP_TIMEOUT$( ((UDP_TIMEOUT_OK)) || echo ', flag rejected: defaults')): relayd has $n open fds (idle baseline $FD_BASE), stackd udp_flows_open $open (want 0)"
	fi
}

# (e) ------------------------------------------------------------------------------------------
check_idle() {
	local addr=$1 fam out first again after
	fam=$(fam_name "$addr")
	out=$(tg_flowpeer udp-idle "$addr" "$TG_FP_UDP_PORT" "$IDLE_GAP" 2>&1)
	if ! [[ $out =~ first=([^ ]+)\ again=([^ ]+)\ after_gap=([^ ]+) ]]; then
		tg_fail_check "(e) $fam UDP idle: ${out:-no output}"
		return
	fi
	first=${BASH_REMATCH[1]} again=${BASH_REMATCH[2]} after=${BASH_REMATCH[3]}
	if [[ $after == *:[0-9]* && $first == *:[0-9]* ]]; then
		tg_pass "(e) $fam UDP after ${IDLE_GAP}s of silence: answered (server saw $after; before the gap $first)"
	else
		tg_fail_check "(e) $fam UDP after ${IDLE_GAP}s of silence: before the gap '$first', after it '$after' (want an answer both times)"
		return
	fi
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		tg_skip "(e) $fam NAT entry expiry: kernel path (no NAT)"
		return
	fi
	if [[ $first == "$again" && $after != "$first" ]]; then
		tg_pass "(e) $fam NAT entry: reused 0.3s later ($again), replaced after ${IDLE_GAP}s idle with --udp-timeout $UDP_TIMEOUT (new source $after)"
	else
		tg_fail_check "(e) $fam NAT entry with --udp-timeout $UDP_TIMEOUT$( ((UDP_TIMEOUT_OK)) || echo ' (flag rejected: default timeout)'): server saw $first, 0.3s later $again (want the same), after ${IDLE_GAP}s idle $after (want a new source port)"
	fi
}

for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	check_dns "$addr" A "$DNS_A"
	check_dns "$addr" AAAA "$DNS_AAAA"
done
for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	check_iperf "$addr"
done
fp_check "(c) IPv4 echo" udp-echo "$TG_SERVER_ADDR" "$TG_FP_UDP_PORT" --count "$ECHO_COUNT" --max-size 65507 --seed 7
fp_check "(c) IPv6 echo" udp-echo "$TG_SERVER6_ADDR" "$TG_FP_UDP_PORT" --count "$ECHO_COUNT" --max-size 65487 --seed 8
for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	fp_check "(d) $(fam_name "$addr") closed port" udp-refused "$addr" "$CLOSED_PORT"
done
for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	check_idle "$addr"
done
for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	fp_check "(g) $(fam_name "$addr") burst" udp-burst "$addr" "$TG_FP_UDP_PORT" --count 2000 --size 1400 --burst 50
done
check_batches
check_expiry
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_udp: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_udp: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
