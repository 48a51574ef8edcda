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

if [[ $TG_KERNEL_PATH == 1 ]]; then
	echo "SKIP: TAP mode has no kernel-path equivalent"
	exit 77
fi
TG_CLIENT_ADDR=198.18.0.2
TG_CLIENT_PREFIX=198.18.0.2/24
GW6=2001:db8::fe
PREFIX6=2001:db8::/64
FILE_MB=4
URL4=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
URL6=http://[$TG_SERVER6_ADDR]:$TG_HTTP_PORT
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10 --max-time 60)

tg_init tgtapnd "$$"
for t in arping rdisc6 ndisc6; do
	command -v $t >/dev/null || fail "$t not found: run scripts/install-deps.sh (iputils-arping, ndisc6)"
done
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

stackd_pid=$(tg_gw_child stackd)
GW_MAC=$(tr '\0' '\n' <"/proc/$stackd_pid/cmdline" | grep -A1 -x -- --gateway-mac | tail -n 1)
[[ $GW_MAC =~ ^02:54:47(:[0-9a-f]{2}){3}$ ]] || fail "stackd's --gateway-mac is '$GW_MAC'"
# The gateway's link-local address: EUI-64 from its MAC (RFC 4291 appendix A).
GW_LL=$("$TG_PYTHON" -c 'import ipaddress, sys
m = bytes(int(x, 16) for x in sys.argv[1].split(":"))
iid = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:]
print(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))' "$GW_MAC")
tg_say "gateway MAC $GW_MAC, link-local $GW_LL"

file_digest() { echo "$(sha256sum <"$1" | cut -d' ' -f1) $(stat -c %s "$1")"; }

# (a) ------------------------------------------------------------------------------------------
check_proxy_arp() {
	local out before after f=$TG_TMP/www/file.bin want got rc
	before=$(tg_stat stackd proxy_arp_replies)
	out=$(tg_client timeout 10 arping -c 2 -w 5 -I "$TG_TUN" "$TG_SERVER_ADDR" 2>&1)
	if grep -qi "reply from $TG_SERVER_ADDR \[$GW_MAC\]" <<<"$out"; then
		tg_pass "(a) arping $TG_SERVER_ADDR (off the subnet): answered by the gateway $GW_MAC"
	else
		tg_fail_check "(a) arping $TG_SERVER_ADDR: no reply from $GW_MAC: $(tr '\n' ' ' <<<"$out")"
	fi
	if ! tg_client timeout 10 arping -c 1 -w 2 -I "$TG_TUN" 198.18.0.77 >/dev/null 2>&1; then
		tg_pass "(a) arping 198.18.0.77 (on the subnet, nobody's): no answer"
	else
		tg_fail_check "(a) arping 198.18.0.77 (on the subnet, nobody's): answered"
	fi
	sleep 1.2 # counters are published once a second
	after=$(tg_stat stackd proxy_arp_replies)
	if ((after >= before + 2)); then
		tg_pass "(a) proxy_arp_replies $before -> $after"
	else
		tg_fail_check "(a) proxy_arp_replies $before -> $after, want at least 2 more"
	fi
	"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 12 >"$f"
	want=$(file_digest "$f")
	got=$(tg_client "${CURL[@]}" -4 "$URL4/file.bin" | "$TG_PYTHON" "$TG_HTTPD" digest)
	rc=$?
	if ((rc == 0)) && [[ $got == "$want" ]]; then
		tg_pass "(a) curl -4 over 'route $TG_SERVER_NET dev $TG_TUN': ${FILE_MB} MB byte-exact"
	else
		tg_fail_check "(a) curl -4 over the on-link route: want '$want', got '${got:-nothing}' (exit $rc)"
	fi
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
	local addr want got rc neigh
	tg_wait_for 15 "an address in $PREFIX6 by SLAAC" has_slaac_address # reported below
	addr=$(slaac_address)
	if [[ -n $addr ]] && tg_wait_for 5 "default route via $GW_LL" default_via_gateway; then
		tg_pass "(c) SLAAC: $addr, default route via $GW_LL (from the RA)"
	else
		tg_fail_check "(c) SLAAC: address '${addr:-none}', routes: $(ip -n "$TG_NS_CLIENT" -6 route show | tr '\n' ';')"
		return
	fi
	want=$(file_digest "$TG_TMP/www/file.bin")
	got=$(tg_client "${CURL[@]}" -6 "$URL6/file.bin" | "$TG_PYTHON" "$TG_HTTPD" digest)
	rc=$?
	if ((rc == 0)) && [[ $got == "$want" ]]; then
		tg_pass "(c) curl -6 over the default route from the RA: ${FILE_MB} MB byte-exact"
	else
		tg_fail_check "(c) curl -6 over the RA's default route: want '$want', got '${got:-nothing}' (exit $rc)"
	fi
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
	local out before after
	before=$(tg_stat stackd proxy_nd_replies)
	out=$(tg_client timeout 10 ndisc6 -r 3 -w 1000 "$TG_SERVER6_ADDR" "$TG_TUN" 2>&1)
	if grep -qi "Target link-layer address: *$GW_MAC" <<<"$out"; then
		tg_pass "(d) ndisc6 $TG_SERVER6_ADDR (off the /64): the gateway's MAC $GW_MAC"
	else
		tg_fail_check "(d) ndisc6 $TG_SERVER6_ADDR: want $GW_MAC, got: $(tr '\n' ' ' <<<"$out")"
	fi
	out=$(tg_client timeout 10 ndisc6 -r 1 -w 1000 2001:db8::77 "$TG_TUN" 2>&1)
	if ! grep -qi "Target link-layer address" <<<"$out"; then
		tg_pass "(d) ndisc6 2001:db8::77 (on the /64, nobody's): no answer"
	else
		tg_fail_check "(d) ndisc6 2001:db8::77 (on the /64, nobody's) was answered: $(tr '\n' ' ' <<<"$out")"
	fi
	sleep 1.2
	after=$(tg_stat stackd proxy_nd_replies)
	if ((after > before)); then
		tg_pass "(d) proxy_nd_replies $before -> $after"
	else
		tg_fail_check "(d) proxy_nd_replies $before -> $after"
	fi
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
	local before after
	before=$(tg_stat stackd drop_nd_invalid)
	tg_client "$TG_PYTHON" -c "$BAD_RS_PY" "$TG_TUN" || tg_fail_check "(e) could not send the RS"
	sleep 1.5
	after=$(tg_stat stackd drop_nd_invalid)
	if ((after > before)); then
		tg_pass "(e) RS with hop limit 64: dropped, drop_nd_invalid $before -> $after"
	else
		tg_fail_check "(e) RS with hop limit 64: drop_nd_invalid $before -> $after"
	fi
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
