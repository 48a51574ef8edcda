#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c and python -c scripts expand in the inner shell
# End-to-end: TCP CONNECT and UDP ASSOCIATE through a real SOCKS5 server, Debian's dante
# (danted), run in the server namespace; docs/protocols.md, "Upstreams".
#   client ns --TUN--> tungate --upstream socks5 (gateway ns) --> danted 198.18.1.2:1080 -->
#   httpd.py, dnsmasq, iperf3 -s, flowpeer.py UDP echo (server ns, IPv4 and IPv6)
# (a) no authentication: curl GETs byte-exact to an IPv4 and an IPv6 destination; dig A and
#     AAAA through UDP ASSOCIATE to an IPv4 and an IPv6 DNS server (dnsmasq's log shows the
#     query came from dante's address, not the gateway's: the proxy carried it); UDP echo of
#     datagrams up to the largest that fits in one SOCKS datagram, byte-exact; iperf3 TCP, and
#     iperf3 UDP at a fixed rate with loss bounded; the relayd counters show one association
#     per flow and no header drops
# (b) the proxy reached over IPv6 ([2001:db8:1::2]:1080): dig and a GET through it
# (c) username/password (RFC 1929, dante's "username" method against a throwaway system user
#     made and removed by this test): GET, dig and UDP echo work; with a wrong password a UDP
#     client gets ECONNREFUSED at once (the association fails: ICMP port unreachable, the
#     counterpart of the RST a TCP client gets), not a timeout
# (d) proxy killed mid-UDP-flow (every danted process, SIGKILL): the client of a running echo
#     stream sees ECONNREFUSED within a bound, no hang; after dante is back a new flow works
# (e) microsocks, which has no UDP ASSOCIATE: a UDP client gets ECONNREFUSED at once (the
#     proxy's "command not supported" mapped to ICMP port unreachable), and TCP through it
#     still works
#
# Usage: test_socks5_dante.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, no danted, kernel path).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	echo "SKIP: the kernel path has no SOCKS5 upstream"
	exit 77
fi
for t in danted microsocks dnsmasq dig iperf3 useradd userdel chpasswd; do
	if ! command -v "$t" >/dev/null; then
		echo "SKIP: $t not installed (scripts/install-deps.sh)"
		exit 77
	fi
done

PROXY_PORT=1080
PROXY4=$TG_SERVER_ADDR:$PROXY_PORT
PROXY6=[$TG_SERVER6_ADDR]:$PROXY_PORT
DNS_NAME=tungate.test
DNS_A=198.18.1.7
DNS_AAAA=2001:db8:1::7
IPERF_PORT=5201
IPERF_RATE=20M
IPERF_SECS=3
IPERF_BUF=4M
MAX_LOSS=5 # percent
ECHO_COUNT=200
# One SOCKS datagram carries the client's payload and a 10-byte header (IPv4 destination)
# in one UDP datagram to dante: 65507 - 10.
ECHO_MAX4=65497
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10)
FILE_MB=4
SOCKS_USER=tgdante$$
SOCKS_PASS=pw-$RANDOM-$$
USER_MADE=0

tg_init tgdante "$$"

# A throwaway system user for dante's username method; removed whatever happens. Users of
# runs that died before their trap are removed too (the name carries the dead shell's pid).
remove_users() {
	local u pid
	((USER_MADE)) && userdel "$SOCKS_USER" 2>/dev/null
	USER_MADE=0
	while read -r u; do
		pid=${u#tgdante}
		[[ $pid == "$$" ]] || kill -0 "$pid" 2>/dev/null || userdel "$u" 2>/dev/null
	done < <(awk -F: '/^tgdante[0-9]+:/ {print $1}' /etc/passwd)
}
trap 'rc=$?; remove_users; (exit $rc); tg_cleanup' EXIT
remove_users

tg_topology
tg_setup_ipv6
tg_start_httpd
tg_start_httpd_at "$TG_SERVER6_ADDR" httpd6
tg_start_flowpeer
tg_stats_setup

tg_start_dnsmasq "$DNS_NAME" "$DNS_A" "$DNS_AAAA"
tg_start_iperf3_server "$IPERF_PORT"

"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 5 >"$TG_TMP/www/file.bin"
WANT="$(sha256sum <"$TG_TMP/www/file.bin" | cut -d' ' -f1) $((FILE_MB * 1024 * 1024))"

# ---- dante -------------------------------------------------------------------------------------
DANTE_PID=
# start_dante none|username: danted in the foreground (no -D), on both server addresses.
start_dante() {
	local method=$1
	cat >"$TG_TMP/danted.conf" <<EOF
logoutput: stderr
internal: $TG_SERVER_ADDR port = $PROXY_PORT
internal: $TG_SERVER6_ADDR port = $PROXY_PORT
external: veth-gw
clientmethod: none
socksmethod: $method
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 }
socks pass { from: 0/0 to: 0/0 command: connect udpassociate }
socks pass { from: 0/0 to: 0/0 command: udpreply }
EOF
	tg_start_bg "danted-$method" "$TG_NS_SERVER" danted -f "$TG_TMP/danted.conf" -p "$TG_TMP/danted.pid" -N 1
	DANTE_PID=$TG_BG_PID
	tg_wait_for 10 "danted listening" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$PROXY_PORT" ||
		fail "danted did not start: $(cat "$TG_TMP/danted-$method.log")"
}

# Every danted process (the main one and the children it forked) in the server namespace.
dante_pids() {
	local p
	for p in $(ip netns pids "$TG_NS_SERVER" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == danted ]] && echo "$p"
	done
}

stop_dante() {
	local pids
	pids=$(dante_pids)
	# shellcheck disable=SC2086
	[[ -n $pids ]] && kill -KILL $pids 2>/dev/null
	[[ -n $DANTE_PID ]] && wait "$DANTE_PID" 2>/dev/null
	DANTE_PID=
	tg_wait_for 5 "danted gone" bash -c '[[ -z $(ip netns pids "$1" | while read -r p; do grep -lx danted /proc/$p/comm 2>/dev/null; done) ]]' _ "$TG_NS_SERVER"
}

restart_gateway() {
	tg_stop_gateway
	tg_start_gateway --log-level debug "${TG_STATS_ARGS[@]}" --upstream socks5 "$@"
}

# ---- checks ------------------------------------------------------------------------------------
# get URL LABEL: byte-exact GET of file.bin.
check_get() {
	local url=$1 label=$2 got rc
	got=$(tg_client "${CURL[@]}" --max-time 60 "$url/file.bin" 2>"$TG_TMP/curl.err" | "$TG_PYTHON" "$TG_HTTPD" digest)
	rc=${PIPESTATUS[0]}
	if ((rc == 0)) && [[ $got == "$WANT" ]]; then
		tg_pass "$label: GET $url/file.bin byte-exact ($got)"
	else
		tg_fail_check "$label: GET $url/file.bin: want '$WANT', got '$got' (curl $rc: $(head -c 200 "$TG_TMP/curl.err"))"
	fi
}

# check_dns LABEL SERVER TYPE WANT: dig through the proxy; dnsmasq must have seen dante's
# address as the source (the gateway's would mean the query went direct).
check_dns() {
	local label=$1 server=$2 type=$3 want=$4 flag out rc before
	[[ $server == *:* ]] && flag=-6 || flag=-4
	before=$(grep -c "query\[$type\] $DNS_NAME from $TG_SERVER_ADDR\$\|query\[$type\] $DNS_NAME from $TG_SERVER6_ADDR\$" "$TG_TMP/dnsmasq.log")
	out=$(tg_client timeout 20 dig "$flag" +short +time=2 +tries=2 "@$server" "$DNS_NAME" "$type" 2>&1)
	rc=$?
	local after
	after=$(grep -c "query\[$type\] $DNS_NAME from $TG_SERVER_ADDR\$\|query\[$type\] $DNS_NAME from $TG_SERVER6_ADDR\$" "$TG_TMP/dnsmasq.log")
	if ((rc == 0)) && [[ $out == "$want" ]] && ((after > before)); then
		tg_pass "$label: dig $flag @$server $DNS_NAME $type: $out (dnsmasq saw the query from dante's address)"
	else
		tg_fail_check "$label: dig $flag @$server $DNS_NAME $type: '$(echo "$out" | tr '\n' ' ' | head -c 200)' (exit $rc), want $want; queries from dante's address before/after: $before/$after"
		grep "$DNS_NAME" "$TG_TMP/dnsmasq.log" | tail -n 3
	fi
}

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

check_iperf_tcp() {
	local out rc mbps
	out=$(tg_client timeout 30 iperf3 -4 -c "$TG_SERVER_ADDR" -p "$IPERF_PORT" -t "$IPERF_SECS" -J 2>&1)
	rc=$?
	mbps=$(printf '%s' "$out" | "$TG_PYTHON" -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print("%.1f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
except (ValueError, KeyError):
    print("ERR")' 2>&1)
	if ((rc == 0)) && [[ $mbps != ERR ]] && tg_fcmp "$mbps" ">" 1; then
		tg_pass "(a) iperf3 TCP through dante, ${IPERF_SECS}s: $mbps Mbit/s received"
	else
		tg_fail_check "(a) iperf3 TCP through dante: exit $rc, '$mbps' ($(printf '%s' "$out" | tail -n 3 | tr '\n' ' ' | head -c 200))"
	fi
}

check_iperf_udp() {
	local out rc summary loss lost pkts mbps jitter
	out=$(tg_client timeout 40 iperf3 -4 -c "$TG_SERVER_ADDR" -p "$IPERF_PORT" -u -b "$IPERF_RATE" -t "$IPERF_SECS" -w "$IPERF_BUF" -J 2>&1)
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
	read -r loss lost pkts mbps jitter <<<"$summary"
	# Where datagrams were lost, if in tungate: relayd's and stackd's drop counters.
	local drops
	drops="relayd udp_drop_send_error $(tg_stat relayd udp_drop_send_error), udp_drop_no_slot $(tg_stat relayd udp_drop_no_slot), socks_udp_drop_queue_full $(tg_stat relayd socks_udp_drop_queue_full)"
	if ((rc == 0)) && [[ $loss != ERR ]] && ((pkts > 0)) && tg_fcmp "$loss" '<' "$MAX_LOSS"; then
		tg_pass "(a) iperf3 -u -b $IPERF_RATE -t $IPERF_SECS through dante's UDP relay: loss $loss % ($lost of $pkts datagrams), $mbps Mbit/s, jitter $jitter ms (bound: loss < $MAX_LOSS %; $drops)"
	else
		tg_fail_check "(a) iperf3 -u -b $IPERF_RATE through dante: exit $rc, ${summary:-no summary} (want loss < $MAX_LOSS %; $drops)"
	fi
}

# A UDP client in the client namespace: "stream" echoes a datagram every 50 ms until an error
# or SECS; "once" sends one datagram (re-sent every 0.3 s) until an answer, an error or SECS.
# Prints "answered N", or "error ENAME after N answers, S s" (ICMP errors arrive as errnos on a
# connected socket).
UDP_CLIENT='
import errno, socket, sys, time
mode, addr, port, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.connect((addr, port))
s.settimeout(0.3)
t0 = time.monotonic()
n = 0
while time.monotonic() - t0 < secs:
    msg = b"tg-%d" % n
    try:
        s.send(msg)
        while True:
            if s.recv(65536) == msg:
                n += 1
                break
    except socket.timeout:
        continue
    except OSError as e:
        print("error %s after %d answers, %.2f s" % (errno.errorcode.get(e.errno, e.errno), n, time.monotonic() - t0))
        sys.exit(0)
    if mode == "once":
        break
    time.sleep(0.05)
print("answered %d" % n)
'
udp_client() { tg_client timeout 30 "$TG_PYTHON" -c "$UDP_CLIENT" "$@"; }

check_counters() {
	local opened failed hdr frag foreign
	[[ -n $TG_STATS_FILE ]] || { tg_skip "(a) counters: no stats file"; return; }
	sleep 1.2 # published once a second
	opened=$(tg_stat relayd socks_udp_assoc_opened)
	failed=$(tg_stat relayd socks_udp_assoc_failed)
	hdr=$(tg_stat relayd socks_udp_drop_header)
	frag=$(tg_stat relayd socks_udp_drop_frag)
	foreign=$(tg_stat relayd socks_udp_drop_foreign)
	# One association per flow: 4 digs (each a new client port), the echo, iperf3's stream.
	if [[ -n $opened ]] && ((opened >= 6 && failed == 0 && hdr == 0 && frag == 0 && foreign == 0)); then
		tg_pass "(a) relayd counters: $opened UDP associations opened (one per flow), 0 failed, 0 header/fragment/foreign drops"
	else
		tg_fail_check "(a) relayd counters: opened '$opened' (want >= 6), failed '$failed', header '$hdr', frag '$frag', foreign '$foreign' (want 0)"
	fi
}

# (a) ------------------------------------------------------------------------------------------
check_no_auth() {
	start_dante none
	restart_gateway --socks5-server "$PROXY4"
	check_get "http://$TG_SERVER_ADDR:$TG_HTTP_PORT" "(a) IPv4 destination"
	check_get "http://[$TG_SERVER6_ADDR]:$TG_HTTP_PORT" "(a) IPv6 destination"
	check_dns "(a)" "$TG_SERVER_ADDR" A "$DNS_A"
	check_dns "(a)" "$TG_SERVER_ADDR" AAAA "$DNS_AAAA"
	check_dns "(a) IPv6 destination" "$TG_SERVER6_ADDR" A "$DNS_A"
	check_dns "(a) IPv6 destination" "$TG_SERVER6_ADDR" AAAA "$DNS_AAAA"
	fp_check "(a) UDP echo through dante, up to $ECHO_MAX4 bytes" udp-echo "$TG_SERVER_ADDR" "$TG_FP_UDP_PORT" \
		--count "$ECHO_COUNT" --max-size "$ECHO_MAX4" --seed 11 --deadline 30
	check_iperf_tcp
	check_iperf_udp
	check_counters
}

# (b) ------------------------------------------------------------------------------------------
check_proxy_v6() {
	restart_gateway --socks5-server "$PROXY6"
	check_get "http://$TG_SERVER_ADDR:$TG_HTTP_PORT" "(b) proxy over IPv6"
	check_dns "(b) proxy over IPv6" "$TG_SERVER_ADDR" A "$DNS_A"
	check_dns "(b) proxy over IPv6" "$TG_SERVER6_ADDR" AAAA "$DNS_AAAA"
	stop_dante
}

# (c) ------------------------------------------------------------------------------------------
check_auth() {
	local out t0 el
	useradd -M -N -s /usr/sbin/nologin -d /nonexistent "$SOCKS_USER" || fail "useradd $SOCKS_USER"
	USER_MADE=1
	printf '%s:%s\n' "$SOCKS_USER" "$SOCKS_PASS" | chpasswd || fail "chpasswd"
	start_dante username
	restart_gateway --socks5-server "$PROXY4" --socks5-user "$SOCKS_USER" --socks5-password "$SOCKS_PASS"
	check_get "http://$TG_SERVER_ADDR:$TG_HTTP_PORT" "(c) username/password"
	check_dns "(c) username/password" "$TG_SERVER_ADDR" A "$DNS_A"
	fp_check "(c) UDP echo with username/password" udp-echo "$TG_SERVER_ADDR" "$TG_FP_UDP_PORT" \
		--count 50 --max-size 1400 --seed 12 --deadline 20
	restart_gateway --socks5-server "$PROXY4" --socks5-user "$SOCKS_USER" --socks5-password wrong
	t0=$(tg_now)
	out=$(udp_client once "$TG_SERVER_ADDR" 53 10 2>&1)
	el=$(tg_elapsed "$t0")
	if [[ $out == "error ECONNREFUSED"* ]] && tg_fcmp "$el" "<" 5; then
		tg_pass "(c) wrong password: the UDP client hears port unreachable ($out)"
	else
		tg_fail_check "(c) wrong password: UDP client '$out' after ${el}s (want ECONNREFUSED at once)"
	fi
	if grep -q "socks5: authentication failed" "$TG_LOG"; then
		tg_pass "(c) relayd logged the failed association"
	else
		tg_fail_check "(c) relayd did not log why the association failed"
	fi
	stop_dante
	remove_users
}

# (d) ------------------------------------------------------------------------------------------
check_proxy_killed() {
	local t0 el out cpid
	start_dante none
	restart_gateway --socks5-server "$PROXY4"
	udp_client stream "$TG_SERVER_ADDR" "$TG_FP_UDP_PORT" 25 >"$TG_TMP/stream.out" 2>&1 &
	cpid=$!
	sleep 1.5
	t0=$(tg_now)
	stop_dante
	wait "$cpid"
	el=$(tg_elapsed "$t0")
	out=$(cat "$TG_TMP/stream.out")
	if [[ $out =~ ^error\ ECONNREFUSED\ after\ ([0-9]+)\ answers ]] && ((BASH_REMATCH[1] > 5)) && tg_fcmp "$el" "<" 10; then
		tg_pass "(d) dante killed mid-UDP-flow: the client's echo stream ended with an error ${el}s later ($out)"
	else
		tg_fail_check "(d) dante killed mid-UDP-flow: client '$out' after ${el}s (want ECONNREFUSED after some answers, within 10 s)"
	fi
	start_dante none
	check_dns "(d) dante restarted" "$TG_SERVER_ADDR" A "$DNS_A"
	out=$(udp_client stream "$TG_SERVER_ADDR" "$TG_FP_UDP_PORT" 1 2>&1)
	if [[ $out =~ ^answered\ ([0-9]+) ]] && ((BASH_REMATCH[1] > 5)); then
		tg_pass "(d) dante restarted: a new UDP flow is echoed ($out)"
	else
		tg_fail_check "(d) dante restarted: new UDP flow '$out'"
	fi
	stop_dante
}

# (e) ------------------------------------------------------------------------------------------
check_microsocks() {
	local out t0 el
	tg_start_bg microsocks "$TG_NS_SERVER" microsocks -i "$TG_SERVER_ADDR" -p "$PROXY_PORT"
	local mpid=$TG_BG_PID
	tg_wait_for 10 "microsocks listening" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$PROXY_PORT" ||
		fail "microsocks did not start"
	restart_gateway --socks5-server "$PROXY4"
	t0=$(tg_now)
	out=$(udp_client once "$TG_SERVER_ADDR" "$TG_FP_UDP_PORT" 10 2>&1)
	el=$(tg_elapsed "$t0")
	if [[ $out == "error ECONNREFUSED"* ]] && tg_fcmp "$el" "<" 5; then
		tg_pass "(e) microsocks (no UDP ASSOCIATE): the UDP client hears port unreachable in ${el}s ($out)"
	else
		tg_fail_check "(e) microsocks: UDP client '$out' after ${el}s (want ECONNREFUSED at once)"
	fi
	if grep -q "socks5: command not supported" "$TG_LOG"; then
		tg_pass "(e) relayd logged microsocks' answer: command not supported"
	else
		tg_fail_check "(e) relayd did not log 'command not supported'"
	fi
	check_get "http://$TG_SERVER_ADDR:$TG_HTTP_PORT" "(e) TCP through microsocks still"
	kill -TERM "$mpid" 2>/dev/null
	wait "$mpid" 2>/dev/null
}

check_no_auth
check_proxy_v6
check_auth
check_proxy_killed
check_microsocks
tg_check_gateway_alive
tg_check_children_stable
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 80
	echo "test_socks5_dante: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_socks5_dante: all checks passed"
exit 0
