#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119,SC2317 # python -c scripts; helpers called through tg_wait_for
# End-to-end: TAP mode with proxy ARP, proxy NDP and router advertisements (docs/modes.md),
# the options test_tap.sh checks are off by default. The client has no IPv6 address of its own
# but its link-local one, and no route via the gateway:
#   client ns: TAP 198.18.0.2/24, route 198.18.1.0/24 dev TAP (on-link: proxy ARP answers)
#              IPv6 by SLAAC from the gateway's RAs (accept_ra=2), default route via its fe80::
# (a) proxy ARP: arping an address off the subnet sees the gateway MAC, one on the subnet no
#     answer; curl -4 through the on-link route, byte-exact
# (b) router advertisements: rdisc6 sees the prefix, the MTU, the gateway's MAC and fe80::
# (c) SLAAC: the client configures an address in 2001:db8::/64 and a default route via the
#     gateway, curl -6 through it byte-exact; a neighbour probe of the gateway keeps the
#     route (lwIP's advertisements carry the Router flag: lwip-patches/0005)
# (d) proxy NDP: ndisc6 sees the gateway MAC for an address off the /64, nothing for one on it
# (e) a router solicitation with a hop limit other than 255 is dropped and counted
# then no child crashed, and SIGTERM stops everything cleanly.
#
# Usage: test_tap_nd.sh [BIN_DIR]   (or TG_BIN_DIR=...). Exit: 0 passed, 1 failed, 77 skipped.
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

GW6=2001:db8::fe
PREFIX6=2001:db8::/64
FILE_MB=4
URL4=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
URL6=http://[$TG_SERVER6_ADDR]:$TG_HTTP_PORT

tg_tap_init tgtapnd # skips on the kernel path; the client is 198.18.0.2/24
tg_topology
# IPv6 on the server side only (tg_setup_ipv6 would give the client a static address).
ip -n "$TG_NS_GW" -6 addr add "$TG_GW6_ADDR/64" dev veth-srv nodad || fail "IPv6 on veth-srv"
ip -n "$TG_NS_SERVER" -6 addr add "$TG_SERVER6_ADDR/64" dev veth-gw nodad || fail "IPv6 on veth-gw"
if ! tg_wait_no_tentative "$TG_NS_GW" || ! tg_wait_no_tentative "$TG_NS_SERVER"; then
	fail "IPv6 addresses still tentative"
fi
# The TAP is made later, in this namespace: it takes these defaults.
ip netns exec "$TG_NS_CLIENT" sysctl -qw net.ipv6.conf.default.accept_ra=2 ||
	fail "accept_ra in $TG_NS_CLIENT"
tg_start_httpd
tg_start_httpd_at "$TG_SERVER6_ADDR" httpd6
tg_stats_setup || fail "this tungate publishes no counters"
tg_start_gateway --log-level info --mode tap --gateway-ipv6 "$GW6" --proxy-arp yes \
	--proxy-ndp yes --router-advertisements yes "${TG_STATS_ARGS[@]}"

GW_MAC=$(tg_tap_gateway_mac) || fail "stackd's --gateway-mac is '$GW_MAC'"
# The gateway's link-local address: EUI-64 from its MAC (RFC 4291 appendix A).
GW_LL=$("$TG_PYTHON" -c 'import ipaddress, sys
m = bytes(int(x, 16) for x in sys.argv[1].split(":"))
iid = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:]
print(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))' "$GW_MAC")
tg_say "gateway MAC $GW_MAC, link-local $GW_LL"

# (a) ------------------------------------------------------------------------------------------
check_proxy_arp() {
	local before
	before=$(tg_stat stackd proxy_arp_replies)
	tg_tap_check_arping "(a) off the subnet, the gateway's proxy ARP" "$TG_SERVER_ADDR" "$GW_MAC"
	tg_tap_check_arping "(a) on the subnet, nobody's" 198.18.0.77 none
	tg_tap_check_counter "(a) proxy ARP replies counted" proxy_arp_replies "$before" 2
	"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 12 >"$TG_TMP/www/file.bin"
	tg_tap_check_download "(a) curl -4 over 'route $TG_SERVER_NET dev $TG_TUN'" --max-time 60 \
		-4 "$URL4/file.bin"
}

# (b) ------------------------------------------------------------------------------------------
check_rdisc6() {
	local out
	out=$(tg_client timeout 10 rdisc6 -r 3 -w 1500 "$TG_TUN" 2>&1)
	if grep -qi "Prefix *: *$PREFIX6" <<<"$out" && grep -qi "link-layer address: *$GW_MAC" <<<"$out" &&
		grep -qi "from *$GW_LL" <<<"$out" && grep -q "MTU *: *1500" <<<"$out" &&
		grep -qi "Autonomous address conf.*Yes" <<<"$out"; then
		tg_pass "(b) rdisc6: prefix $PREFIX6 (autonomous), MTU 1500, from $GW_LL at $GW_MAC"
	else
		tg_fail_check "(b) rdisc6 $TG_TUN: want $PREFIX6 from $GW_LL at $GW_MAC, got: $(tr '\n' ' ' <<<"$out")"
	fi
}

# (c) ------------------------------------------------------------------------------------------
slaac_address() {
	ip -n "$TG_NS_CLIENT" -6 -o addr show dev "$TG_TUN" scope global dynamic -tentative |
		awk '{print $4}' | grep -i '^2001:db8::' | head -n 1
}
has_slaac_address() { [[ -n $(slaac_address) ]]; }
default_via_gateway() {
	ip -n "$TG_NS_CLIENT" -6 route show default | grep -qi "via $GW_LL dev $TG_TUN proto ra"
}

check_slaac() {
	local addr neigh
	tg_wait_for 15 "an address in $PREFIX6 by SLAAC" has_slaac_address # reported below
	addr=$(slaac_address)
	if [[ -n $addr ]] && tg_wait_for 5 "default route via $GW_LL" default_via_gateway; then
		tg_pass "(c) SLAAC: $addr, default route via $GW_LL (from the RA)"
	else
		tg_fail_check "(c) SLAAC: address '${addr:-none}', routes: $(ip -n "$TG_NS_CLIENT" -6 route show | tr '\n' ';')"
		return
	fi
	tg_tap_check_download "(c) curl -6 over the default route from the RA" --max-time 60 \
		-6 "$URL6/file.bin"
	# Make the client probe the gateway now (RFC 4861 7.3.3: STALE, used, DELAY, PROBE).
	ip netns exec "$TG_NS_CLIENT" sysctl -qw "net.ipv6.neigh.$TG_TUN.delay_first_probe_time=1"
	ip -n "$TG_NS_CLIENT" -6 neigh change "$GW_LL" dev "$TG_TUN" nud stale 2>/dev/null
	tg_client ping -6 -c 1 -W 2 "$TG_SERVER6_ADDR" >/dev/null 2>&1
	sleep 2.5
	neigh=$(ip -n "$TG_NS_CLIENT" -6 neigh show "$GW_LL" dev "$TG_TUN")
	if grep -q "router" <<<"$neigh" && grep -q REACHABLE <<<"$neigh" && default_via_gateway; then
		tg_pass "(c) after a neighbour probe the gateway is still a router ($neigh), default route kept"
	else
		tg_fail_check "(c) after a neighbour probe: '$neigh', default route: $(ip -n "$TG_NS_CLIENT" -6 route show default)"
	fi
}

# (d) ------------------------------------------------------------------------------------------
check_proxy_ndp() {
	local before
	before=$(tg_stat stackd proxy_nd_replies)
	tg_tap_check_ndisc6 "(d) off the /64, the gateway's proxy NDP" "$TG_SERVER6_ADDR" "$GW_MAC"
	tg_tap_check_ndisc6 "(d) on the /64, nobody's" 2001:db8::77 none
	tg_tap_check_counter "(d) proxy NDP replies counted" proxy_nd_replies "$before"
}

# (e) ------------------------------------------------------------------------------------------
# A router solicitation to ff02::2 with hop limit 64: it could have been forwarded, so RFC 4861
# 6.1.1 says drop it. The kernel fills in the ICMPv6 checksum.
BAD_RS_PY='
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 64)
s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, socket.if_nametoindex(sys.argv[1])))
'
check_invalid_rs() {
	local before
	before=$(tg_stat stackd drop_nd_invalid)
	tg_client "$TG_PYTHON" -c "$BAD_RS_PY" "$TG_TUN" || tg_fail_check "(e) could not send the RS"
	tg_tap_check_counter "(e) RS with hop limit 64 dropped" drop_nd_invalid "$before"
}

check_proxy_arp
check_rdisc6
check_slaac
check_proxy_ndp
check_invalid_rs
tg_check_gateway_alive
tg_check_children_stable
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 200
	echo "test_tap_nd: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_tap_nd: all checks passed"
exit 0
