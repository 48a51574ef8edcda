#!/usr/bin/env bash
# shellcheck disable=SC2016 # awk programs in single quotes
# End-to-end: ICMP echo (ping) through tungate, IPv4 and IPv6.
#   client ns --TUN--> tungate (gateway ns; relayd pings with unprivileged ICMP sockets, see
#   lib.sh: ping_group_range) --veth--> server ns (the kernel answers)
# (a) ping -c 3 -W 2 198.18.1.2 and ping -6 -c 3 -W 2 2001:db8:1::2: every echo answered, no
#     duplicates, no corrupted payload, and the server's kernel counted the echo requests
#     (Icmp InEchos / Icmp6InEchos), so the server answered, not the gateway
# (b) the same with 4000-byte payloads (fragmented on the TUN and on the server's link)
# (c) ping 198.18.1.99 and 2001:db8:1::99 (unused addresses in the server's own subnet), small
#     and fragmented: no reply at all (100 % loss): the replies in (a) and (b) are real, not made
#     up by the gateway (the hop limit 255 of a reply made up by lwIP would give it away too)
# then tungate must still be running, and SIGTERM must stop it cleanly.
#
# Usage: test_icmp.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

COUNT=3

tg_init tge2e "$$"
command -v ping >/dev/null || fail "ping not found: run scripts/install-deps.sh (iputils-ping)"
tg_topology
tg_setup_ipv6
tg_start_gateway --log-level info

fam_name() { [[ $1 == *:* ]] && echo IPv6 || echo IPv4; }

# Echo requests the server's kernel has received, per family.
server_in_echos() {
	if [[ $1 == IPv6 ]]; then
		ip netns exec "$TG_NS_SERVER" awk '$1 == "Icmp6InEchos" {print $2}' /proc/net/snmp6
	else
		ip netns exec "$TG_NS_SERVER" awk '$1 == "Icmp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 } else print $c }' /proc/net/snmp
	fi
}

# ping_stats OUTPUT: "TRANSMITTED RECEIVED"
ping_stats() {
	local tx rx
	tx=$(sed -n 's/^\([0-9]\+\) packets transmitted.*/\1/p' <<<"$1")
	rx=$(sed -n 's/^[0-9]\+ packets transmitted, \([0-9]\+\) \(packets \)\?received.*/\1/p' <<<"$1")
	echo "${tx:-0} ${rx:-0}"
}

check_ping() {
	local label=$1 addr=$2 size=$3 fam flag out rc before after tx rx rtt
	fam=$(fam_name "$addr")
	[[ $fam == IPv6 ]] && flag=-6 || flag=-4
	before=$(server_in_echos "$fam")
	out=$(tg_client timeout 30 ping "$flag" -n -c "$COUNT" -W 2 -i 0.3 -s "$size" "$addr" 2>&1)
	rc=$?
	after=$(server_in_echos "$fam")
	read -r tx rx <<<"$(ping_stats "$out")"
	rtt=$(sed -n 's/^rtt .* = \([^ ]*\) ms.*/\1/p' <<<"$out")
	if ((rc == 0 && rx == COUNT && after - before >= COUNT)) && ! grep -q 'DUP!\|wrong data' <<<"$out"; then
		tg_pass "$label $fam ping -s $size $addr: $rx/$tx answered, rtt min/avg/max/mdev $rtt ms, server counted $((after - before)) echo requests"
	else
		tg_fail_check "$label $fam ping -s $size $addr: exit $rc, $rx/$tx answered (want $COUNT/$COUNT, no DUP!/wrong data), server counted $((after - before)) echo requests (want >= $COUNT):"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -n 8
	fi
}

check_no_reply() {
	local addr=$1 size=$2 fam flag out rc tx rx
	fam=$(fam_name "$addr")
	[[ $fam == IPv6 ]] && flag=-6 || flag=-4
	out=$(tg_client timeout 30 ping "$flag" -n -c "$COUNT" -W 2 -i 0.3 -s "$size" "$addr" 2>&1)
	rc=$?
	read -r tx rx <<<"$(ping_stats "$out")"
	if ((rc != 0 && tx == COUNT && rx == 0)); then
		tg_pass "(c) $fam ping -s $size $addr (no such host): 0/$tx answered, 100 % loss$(grep -q 'Unreachable' <<<"$out" && echo ', reported unreachable')"
	else
		tg_fail_check "(c) $fam ping -s $size $addr (no such host): exit $rc, $rx/$tx answered (want 0/$COUNT):"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -n 8
	fi
}

for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	check_ping "(a)" "$addr" 56
done
for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
	check_ping "(b)" "$addr" 4000
done
for addr in "$TG_UNUSED_ADDR" "$TG_UNUSED6_ADDR"; do
	check_no_reply "$addr" 56
	check_no_reply "$addr" 4000
done
tg_check_children_stable
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 60
	echo "test_icmp: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_icmp: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
