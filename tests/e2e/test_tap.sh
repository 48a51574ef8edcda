#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119 # python/bash -c scripts expand in the inner shell
# End-to-end: TAP mode (docs/modes.md). tungate --mode tap creates an Ethernet device in the
# client namespace; stackd is a host on that segment with the gateway address 198.18.0.254/24
# and 2001:db8::fe, and the client routes the server's subnets via those next hops.
#   client ns: TAP 198.18.0.2/24, 2001:db8::1/64
#              route 198.18.1.0/24 via 198.18.0.254, 2001:db8:1::/64 via 2001:db8::fe
# (a) arping sees the gateway MAC (lwIP's ARP)   (b) curl -4 GET, byte-exact
# (c) IPv6: neighbour discovery resolves the gateway, curl -6 byte-exact, ping -6 relayed
# (d) frames for another MAC, of another EtherType or VLAN-tagged are dropped and counted,
#     and a SYN to a foreign MAC gets no answer (a SYN to the gateway's MAC does: the control)
# (e) off by default (test_tap_nd.sh turns them on): no proxy ARP (arping an address off the
#     subnet fails), no proxy NDP (ndisc6), no router advertisements (rdisc6)
# (f) ICMP through the TAP: ping -4 relayed, and a UDP datagram to a closed port gets the
#     server's port unreachable back as ECONNREFUSED, IPv4 and IPv6 (stackd's own ICMP errors
#     leave through lwIP, with an Ethernet header)
# then no child crashed, and SIGTERM stops everything cleanly.
#
# Usage: test_tap.sh [BIN_DIR]   (or TG_BIN_DIR=...). Exit: 0 passed, 1 failed, 77 skipped.
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

GW4=198.18.0.254
GW6=2001:db8::fe
FILE_MB=20
URL4=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
URL6=http://[$TG_SERVER6_ADDR]:$TG_HTTP_PORT

tg_tap_init tgtap # skips on the kernel path; the client is 198.18.0.2/24
tg_topology
tg_start_httpd
tg_stats_setup || fail "this tungate publishes no counters"
tg_start_gateway --log-level info --mode tap --gateway-ipv6 "$GW6" "${TG_STATS_ARGS[@]}"
# lib.sh routed the server subnet onto the link (TUN style); on Ethernet it goes via the gateway.
ip -n "$TG_NS_CLIENT" route replace "$TG_SERVER_NET" via "$GW4" dev "$TG_TUN" ||
	fail "route $TG_SERVER_NET via $GW4"
tg_setup_ipv6
ip -n "$TG_NS_CLIENT" -6 route replace "$TG_SERVER6_NET" via "$GW6" dev "$TG_TUN" ||
	fail "route $TG_SERVER6_NET via $GW6"
tg_start_httpd_at "$TG_SERVER6_ADDR" httpd6

GW_MAC=$(tg_tap_gateway_mac) || fail "stackd's --gateway-mac is '$GW_MAC', want the default 02:54:47:xx:xx:xx"
CLIENT_MAC=$(ip -n "$TG_NS_CLIENT" -o link show dev "$TG_TUN" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
tg_say "gateway MAC $GW_MAC, client $TG_TUN MAC $CLIENT_MAC"

# (a) ------------------------------------------------------------------------------------------
check_arp() {
	tg_tap_check_arping "(a) the gateway" "$GW4" "$GW_MAC"
}

# (b) ------------------------------------------------------------------------------------------
check_get4() {
	"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 11 >"$TG_TMP/www/file.bin"
	tg_tap_check_download "(b) curl -4 GET via $GW4" --max-time 120 -4 "$URL4/file.bin"
}

# (c) ------------------------------------------------------------------------------------------
check_ipv6() {
	local neigh
	tg_tap_check_download "(c) curl -6 GET via $GW6" --max-time 120 -6 "$URL6/file.bin"
	neigh=$(ip -n "$TG_NS_CLIENT" -6 neigh show "$GW6" dev "$TG_TUN")
	if grep -qi "lladdr $GW_MAC" <<<"$neigh"; then
		tg_pass "(c) neighbour discovery: $GW6 is $GW_MAC ($neigh)"
	else
		tg_fail_check "(c) neighbour discovery: $GW6 -> '${neigh:-nothing}', want $GW_MAC"
	fi
	if tg_client ping -6 -c 2 -W 3 "$TG_SERVER6_ADDR" >/dev/null 2>&1; then
		tg_pass "(c) ping -6 $TG_SERVER6_ADDR via $GW6: answered"
	else
		tg_fail_check "(c) ping -6 $TG_SERVER6_ADDR via $GW6: no answer"
	fi
}

# (d) ------------------------------------------------------------------------------------------
# Sends frames with a raw AF_PACKET socket and prints how many SYN-ACKs came back.
# Args: DEV SRC_MAC DST_MAC KIND (syn | ethertype | vlan) SPORT
RAW_PY='
import socket, struct, sys, time
dev, src, dst, kind, sport = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
cli, srv = socket.inet_aton("198.18.0.2"), socket.inet_aton("198.18.1.2")
tcp = struct.pack("!HHIIBBHHH", sport, 8080, 1000, 0, 5 << 4, 0x02, 64240, 0, 0)
tcp = tcp[:16] + struct.pack("!H", csum(cli + srv + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, cli, srv)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
if kind == "syn":
    frame = mac(dst) + mac(src) + b"\x08\x00" + ip + tcp
elif kind == "vlan":
    frame = mac(dst) + mac(src) + b"\x81\x00\x00\x07\x08\x00" + ip + tcp
else:
    frame = mac(dst) + mac(src) + b"\x88\xb5" + b"tungate test frame".ljust(46, b"\0")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((dev, 0))
s.settimeout(0.2)
s.send(frame)
end, synacks = time.time() + 2, 0
while time.time() < end:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if len(f) >= 54 and f[12:14] == b"\x08\x00" and f[23] == 6 and f[26:30] == srv:
        sp, dp = struct.unpack("!HH", f[34:38])
        if sp == 8080 and dp == sport and f[47] & 0x12 == 0x12:
            synacks += 1
print(synacks)
'
raw_send() { tg_client timeout 10 "$TG_PYTHON" -c "$RAW_PY" "$TG_TUN" "$CLIENT_MAC" "$@"; }

check_l2_filter() {
	local before after n
	# Control: the same SYN to the gateway's MAC is answered, so the sniffer does see replies.
	n=$(raw_send "$GW_MAC" syn 40001)
	if [[ ${n:-0} -ge 1 ]]; then
		tg_pass "(d) control: a raw SYN to the gateway MAC gets a SYN-ACK"
	else
		tg_fail_check "(d) control: a raw SYN to the gateway MAC got no SYN-ACK (${n:-error})"
	fi
	before=$(tg_stat stackd drop_l2_foreign)
	n=$(raw_send 02:00:00:00:00:99 syn 40002)
	sleep 1.2 # counters are published once a second
	after=$(tg_stat stackd drop_l2_foreign)
	if [[ $n == 0 ]] && ((after > before)); then
		tg_pass "(d) SYN to a foreign MAC: not answered, drop_l2_foreign $before -> $after"
	else
		tg_fail_check "(d) SYN to a foreign MAC: ${n:-?} SYN-ACKs, drop_l2_foreign $before -> $after"
	fi
	before=$(tg_stat stackd drop_l2_ethertype)
	raw_send "$GW_MAC" ethertype 40003 >/dev/null
	sleep 1.2
	after=$(tg_stat stackd drop_l2_ethertype)
	if ((after > before)); then
		tg_pass "(d) EtherType 0x88b5: dropped, drop_l2_ethertype $before -> $after"
	else
		tg_fail_check "(d) EtherType 0x88b5: drop_l2_ethertype $before -> $after"
	fi
	before=$(tg_stat stackd drop_l2_vlan)
	n=$(raw_send "$GW_MAC" vlan 40004)
	sleep 1.2
	after=$(tg_stat stackd drop_l2_vlan)
	if [[ $n == 0 ]] && ((after > before)); then
		tg_pass "(d) VLAN-tagged SYN: not answered, drop_l2_vlan $before -> $after"
	else
		tg_fail_check "(d) VLAN-tagged SYN: ${n:-?} SYN-ACKs, drop_l2_vlan $before -> $after"
	fi
}

# (e) ------------------------------------------------------------------------------------------
check_defaults_off() {
	local out c
	tg_tap_check_arping "(e) off the subnet, without proxy_arp" "$TG_SERVER_ADDR" none
	tg_tap_check_ndisc6 "(e) off the /64, without proxy_ndp" "$TG_SERVER6_ADDR" none
	out=$(tg_client timeout 10 rdisc6 -r 1 -w 1500 "$TG_TUN" 2>&1)
	if ! grep -qi "Prefix" <<<"$out"; then
		tg_pass "(e) rdisc6: no router advertisement without router_advertisements"
	else
		tg_fail_check "(e) rdisc6 got an RA without router_advertisements: $(tr '\n' ' ' <<<"$out")"
	fi
	out=
	for c in proxy_arp_replies proxy_nd_replies ra_sent; do
		[[ $(tg_stat stackd $c) == 0 ]] || out+=" $c=$(tg_stat stackd $c)"
	done
	if [[ -z $out ]]; then
		tg_pass "(e) proxy_arp_replies, proxy_nd_replies, ra_sent all 0"
	else
		tg_fail_check "(e) counters that should be 0:$out"
	fi
}

# (f) ------------------------------------------------------------------------------------------
check_icmp() {
	local out before addr
	if tg_client ping -c 2 -W 3 "$TG_SERVER_ADDR" >/dev/null 2>&1; then
		tg_pass "(f) ping $TG_SERVER_ADDR via $GW4: answered"
	else
		tg_fail_check "(f) ping $TG_SERVER_ADDR via $GW4: no answer"
	fi
	before=$(tg_stat stackd icmp_errors_sent)
	for addr in "$TG_SERVER_ADDR" "$TG_SERVER6_ADDR"; do
		if out=$(tg_flowpeer udp-refused "$addr" 9998 2>&1); then
			tg_pass "(f) UDP to $addr port 9998 (closed): $out"
		else
			tg_fail_check "(f) UDP to $addr port 9998 (closed): ${out:-no output}"
		fi
	done
	tg_tap_check_counter "(f) stackd answered with ICMP" icmp_errors_sent "$before" 2
}

check_arp
check_get4
check_ipv6
check_l2_filter
check_defaults_off
check_icmp
tg_check_gateway_alive
tg_check_children_stable
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 200
	echo "test_tap: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_tap: all checks passed"
exit 0
