#!/usr/bin/env bash
# shellcheck disable=SC2016 # python -c scripts
# End-to-end: routing rules (docs/rules.md). One gateway, a config file with named upstreams
# and an ordered rule list:
#   client ns --TUN--> tungate (gateway ns) --> direct, or microsocks "pa" (198.18.1.2:1080,
#   no auth, goes out from 198.18.1.3), microsocks "pb" (198.18.1.2:1081, user/password, goes
#   out from 198.18.1.4), a scripted proxy "hostile" (1082), a dead one (1089), "pb" with a
#   wrong password.
# (a) port 8001 via pa, port 8002 via pb, port 8003 direct (a CIDR rule): each GET byte-exact,
#     and the server saw it come from pa's, pb's or the gateway's own address
# (b) reject rule: TCP to 198.18.1.99 is refused at once, with relayd never asked; UDP gets ICMP
#     administratively prohibited (EHOSTUNREACH); in both global handshake modes
# (c) handshake mode per rule: a closed port under a "consistent" rule refuses connect(); under
#     a "fast" rule connect() succeeds and the connection is then reset; both global modes
# (d) failure mapping, per SOCKS reply code and in both handshake modes (the rule picks the mode):
#     what the client sees for each code 0x01..0x09, a dead proxy and a failed authentication
# (e) config errors name the file line and the rule, --set reaches [upstream NAME] keys; the
#     passwords are not on any command line
#
# Usage: test_rules.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, no microsocks, kernel path).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	echo "SKIP: the kernel path has no rules"
	exit 77
fi
if ! command -v microsocks >/dev/null; then
	echo "SKIP: microsocks not installed (scripts/install-deps.sh)"
	exit 77
fi

PA_OUT=198.18.1.3
PB_OUT=198.18.1.4
REJECT_ADDR=$TG_UNUSED_ADDR # 198.18.1.99: routed into the TUN, nothing there
SRV=$TG_SERVER_ADDR
BODY_BYTES=$((3 * 1024 * 1024))
CONF=

tg_init tgrules "$$"
tg_topology
ip -n "$TG_NS_SERVER" addr add "$PA_OUT/24" dev veth-gw || fail "address $PA_OUT"
ip -n "$TG_NS_SERVER" addr add "$PB_OUT/24" dev veth-gw || fail "address $PB_OUT"

# HTTP on 8001-8003: the body is BODY_BYTES seeded bytes, X-Peer the address the request came
# from. UDP echo on 5353.
cat >"$TG_TMP/server.py" <<'EOF'
import http.server, random, socket, socketserver, sys, threading
addr, nbytes = sys.argv[1], int(sys.argv[2])
body = random.Random(5).randbytes(nbytes)
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Peer", self.client_address[0])
        self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
for port in (8001, 8002, 8003):
    threading.Thread(target=S((addr, port), H).serve_forever, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((addr, 5353))
print("ready", flush=True)
while True:
    data, peer = u.recvfrom(65535)
    u.sendto(data, peer)
EOF
"$TG_PYTHON" -c 'import random, sys; sys.stdout.buffer.write(random.Random(5).randbytes(int(sys.argv[1])))' \
	"$BODY_BYTES" >"$TG_TMP/body"
WANT=$(sha256sum <"$TG_TMP/body" | cut -d' ' -f1)

# A proxy that answers CONNECT to port P with reply code P % 100: one code per port.
cat >"$TG_TMP/hostile.py" <<'EOF'
import socket, sys, threading
def serve(c):
    try:
        c.recv(16)
        c.sendall(bytes([5, 0]))
        req = c.recv(64)
        code = int.from_bytes(req[-2:], "big") % 100
        c.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        c.recv(64)
    except OSError:
        pass
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

# probe.py HOST PORT...: what a client sees for each TCP connect, one line "PORT RESULT SECONDS":
# refused, unreachable (EHOSTUNREACH), timeout (no answer in 3 s), reset (connected, then RST),
# eof, open (connected, nothing within 3 s), or the errno name.
cat >"$TG_TMP/probe.py" <<'EOF'
import errno, socket, sys, time
host = sys.argv[1]
for port in map(int, sys.argv[2:]):
    t0 = time.monotonic()
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        try:
            r = "eof" if s.recv(1) == b"" else "data"
        except socket.timeout:
            r = "open"
        except ConnectionResetError:
            r = "reset"
    except ConnectionRefusedError:
        r = "refused"
    except ConnectionResetError:
        # Established, then reset before connect() returned to us: SO_ERROR says ECONNRESET
        # (a SYN answered with RST says ECONNREFUSED).
        r = "reset"
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = "unreachable" if e.errno == errno.EHOSTUNREACH else errno.errorcode.get(e.errno, str(e))
    s.close()
    print(port, r, "%.2f" % (time.monotonic() - t0), flush=True)
EOF

# udp.py HOST PORT: "reply" (the echo came back), "prohibited" (EHOSTUNREACH), or what else.
cat >"$TG_TMP/udp.py" <<'EOF'
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], int(sys.argv[2])))
try:
    s.send(b"tungate rules")
    print("reply" if s.recv(100) == b"tungate rules" else "wrong reply")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("prohibited" if e.errno == errno.EHOSTUNREACH else errno.errorcode.get(e.errno, str(e)))
EOF

tg_start_bg server "$TG_NS_SERVER" "$TG_PYTHON" "$TG_TMP/server.py" "$SRV" "$BODY_BYTES"
tg_wait_for 15 "server ready" grep -q ready "$TG_TMP/server.log" || fail "server did not start"
tg_start_bg pa "$TG_NS_SERVER" microsocks -i "$SRV" -p 1080 -b "$PA_OUT"
tg_start_bg pb "$TG_NS_SERVER" microsocks -i "$SRV" -p 1081 -b "$PB_OUT" -u tguser -P tgpass-b
tg_start_bg hostile "$TG_NS_SERVER" "$TG_PYTHON" "$TG_TMP/hostile.py" "$SRV" 1082
for p in 1080 1081 1082; do
	tg_wait_for 10 "proxy on $p" tg_listening "$TG_NS_SERVER" "$SRV" "$p" || fail "no proxy on $p"
done

# Ports 7000+code: fast-mode rule; 7100+code: consistent-mode rule (d).
cat >"$TG_TMP/rules.conf" <<EOF
[rules]
rule = $REJECT_ADDR/32 any reject
rule = $SRV/32 tcp 8001 socks5:pa
rule = $SRV/32 tcp 8002 socks5:pb
rule = $SRV/32 tcp 8010-8019 direct consistent
rule = $SRV/32 tcp 8020-8029 direct fast
rule = $SRV/32 tcp 7000-7099 socks5:hostile fast
rule = $SRV/32 tcp 7100-7199 socks5:hostile consistent
rule = $SRV/32 tcp 7200 socks5:dead fast
rule = $SRV/32 tcp 7201 socks5:dead consistent
rule = $SRV/32 tcp 7300 socks5:badauth fast
rule = $SRV/32 tcp 7301 socks5:badauth consistent
rule = $TG_SERVER_NET any direct
default = reject

[upstream pa]
type = socks5
server = $SRV:1080

[upstream pb]
type = socks5
server = $SRV:1081
user = tguser
password = tgpass-b

[upstream hostile]
server = $SRV:1082

[upstream dead]
server = $SRV:1089

[upstream badauth]
server = $SRV:1081
user = tguser
password = wrong-password

[relay]
connect_timeout = 5
EOF
CONF=$TG_TMP/rules.conf
chmod 600 "$CONF"

tg_stats_setup
start() { tg_stop_gateway; tg_start_gateway -c "$CONF" --log-level debug "${TG_STATS_ARGS[@]}" "$@"; }

# (a) ------------------------------------------------------------------------------------------
# get PORT: sets PEER (X-Peer) and GOT (sha256 of the body), RC (curl's status).
get() {
	tg_client curl -sS --fail --noproxy '*' --connect-timeout 5 --max-time 30 -D "$TG_TMP/hdr" \
		"http://$SRV:$1/" 2>"$TG_TMP/curl.err" | sha256sum | cut -d' ' -f1 >"$TG_TMP/got"
	RC=${PIPESTATUS[0]}
	GOT=$(cat "$TG_TMP/got")
	PEER=$(tr -d '\r' <"$TG_TMP/hdr" | awk 'tolower($1) == "x-peer:" { print $2 }')
}

check_upstreams() {
	local port want_peer name
	for spec in "8001 $PA_OUT socks5:pa" "8002 $PB_OUT socks5:pb (user/password)" \
		"8003 $TG_GW_ADDR direct (CIDR rule)"; do
		read -r port want_peer name <<<"$spec"
		get "$port"
		if ((RC == 0)) && [[ $GOT == "$WANT" && $PEER == "$want_peer" ]]; then
			tg_pass "(a) port $port: $BODY_BYTES bytes byte-exact via $name (server saw $PEER)"
		else
			tg_fail_check "(a) port $port via $name: curl $RC, peer '$PEER' (want $want_peer), sha ${GOT:0:12} (want ${WANT:0:12}) $(head -c 150 "$TG_TMP/curl.err")"
		fi
	done
	local got
	got=$(tg_client "$TG_PYTHON" "$TG_TMP/udp.py" "$SRV" 5353)
	if [[ $got == reply ]]; then
		tg_pass "(a) UDP to $SRV:5353 (CIDR rule, any protocol): echoed"
	else
		tg_fail_check "(a) UDP to $SRV:5353: $got (want the echo)"
	fi
}

# (b) ------------------------------------------------------------------------------------------
check_reject() {
	local mode=$1 out port r el before after
	sleep 1.2 # counters are published once a second: let the flows before this one show
	before=$(tg_stat relayd tcp_flows_total)
	read -r port r el < <(tg_client "$TG_PYTHON" "$TG_TMP/probe.py" "$REJECT_ADDR" 80)
	sleep 1.2 # counters are published once a second
	after=$(tg_stat relayd tcp_flows_total)
	if [[ $r == refused ]] && tg_fcmp "$el" "<" 1; then
		tg_pass "(b) $mode mode: TCP to $REJECT_ADDR:$port refused (RST) by the reject rule in ${el}s"
	else
		tg_fail_check "(b) $mode mode: TCP to $REJECT_ADDR:$port: ${r:-nothing} after ${el:-?}s, want refused at once"
	fi
	if [[ -n $before && $before == "$after" ]]; then
		tg_pass "(b) $mode mode: relayd never saw the rejected flow (tcp_flows_total $after)"
	else
		tg_fail_check "(b) $mode mode: relayd's tcp_flows_total went from '$before' to '$after'"
	fi
	out=$(tg_client "$TG_PYTHON" "$TG_TMP/udp.py" "$REJECT_ADDR" 53)
	if [[ $out == prohibited ]]; then
		tg_pass "(b) $mode mode: UDP to $REJECT_ADDR:53 gets ICMP administratively prohibited"
	else
		tg_fail_check "(b) $mode mode: UDP to $REJECT_ADDR:53: $out (want EHOSTUNREACH from ICMP prohibited)"
	fi
	local i
	for ((i = 0; i < 30; i++)); do # published once a second
		out=$(tg_stat stackd rule_rejected)
		[[ -n $out ]] && ((out >= 2)) && break
		sleep 0.1
	done
	if [[ -n $out ]] && ((out >= 2)); then
		tg_pass "(b) $mode mode: stackd counted $out rejected flows"
	else
		tg_fail_check "(b) $mode mode: stackd's rule_rejected is '$out'"
	fi
}

# (c) ------------------------------------------------------------------------------------------
# probe PORT...: fills RES[PORT] with what the client saw (probe.py).
declare -A RES
probe() {
	local port r el
	RES=()
	while read -r port r el; do
		RES[$port]=$r
		echo "  $port: $r (${el}s)"
	done < <(tg_client "$TG_PYTHON" "$TG_TMP/probe.py" "$SRV" "$@")
}

check_modes() {
	local mode=$1
	probe 8011 8021
	if [[ ${RES[8011]:-} == refused && ${RES[8021]:-} =~ ^(reset|eof)$ ]]; then
		tg_pass "(c) global $mode: closed port under a consistent rule refused, under a fast rule accepted then ${RES[8021]}"
	else
		tg_fail_check "(c) global $mode: consistent rule gave '${RES[8011]:-}' (want refused), fast rule '${RES[8021]:-}' (want reset)"
	fi
}

# (d) ------------------------------------------------------------------------------------------
# Consistent mode as docs/protocols.md tabulates it; fast mode: accepted, then reset, always.
declare -A CONSISTENT=([1]=refused [2]=refused [3]=unreachable [4]=unreachable [5]=refused
	[6]=timeout [7]=refused [8]=refused [9]=refused)
check_mapping() {
	local code ports=() bad=0
	for code in "${!CONSISTENT[@]}"; do ports+=($((7000 + code)) $((7100 + code))); done
	probe "${ports[@]}" 7200 7201 7300 7301
	for code in "${!CONSISTENT[@]}"; do
		if [[ ! ${RES[$((7000 + code))]:-} =~ ^(reset|eof)$ ]]; then
			tg_fail_check "(d) reply code $code, fast mode: ${RES[$((7000 + code))]:-none} (want reset)"
			bad=1
		fi
		if [[ ${RES[$((7100 + code))]:-} != "${CONSISTENT[$code]}" ]]; then
			tg_fail_check "(d) reply code $code, consistent mode: ${RES[$((7100 + code))]:-none} (want ${CONSISTENT[$code]})"
			bad=1
		fi
	done
	((bad)) || tg_pass "(d) SOCKS reply codes 1..9: fast mode reset each; consistent mode refused 1 2 5 7 8 9, ICMP host unreachable for 3 4, no answer for 6"
	if [[ ${RES[7200]:-} =~ ^(reset|eof)$ && ${RES[7201]:-} == refused ]]; then
		tg_pass "(d) proxy unreachable: fast mode reset, consistent mode refused"
	else
		tg_fail_check "(d) proxy unreachable: fast '${RES[7200]:-}' (want reset), consistent '${RES[7201]:-}' (want refused)"
	fi
	if [[ ${RES[7300]:-} =~ ^(reset|eof)$ && ${RES[7301]:-} == refused ]]; then
		tg_pass "(d) authentication failed: fast mode reset, consistent mode refused"
	else
		tg_fail_check "(d) authentication failed: fast '${RES[7300]:-}' (want reset), consistent '${RES[7301]:-}' (want refused)"
	fi
}

# (e) ------------------------------------------------------------------------------------------
check_config_errors() {
	local out rc
	sed 's/^server = .*:1082$/server = nowhere:1082/' "$CONF" >"$TG_TMP/bad1.conf"
	out=$("$(tg_bin_dir)/tungate" -n -c "$TG_TMP/bad1.conf" 2>&1)
	rc=$?
	local line
	line=$(grep -n 'nowhere' "$TG_TMP/bad1.conf" | cut -d: -f1)
	if ((rc == 2)) && [[ $out == *"bad1.conf:$line: [upstream hostile] server"* ]]; then
		tg_pass "(e) a bad server is reported with its line: $out"
	else
		tg_fail_check "(e) bad server: exit $rc, '$out' (want bad1.conf:$line)"
	fi
	sed 's/socks5:dead consistent/socks5:nosuch consistent/' "$CONF" >"$TG_TMP/bad2.conf"
	line=$(grep -n 'nosuch' "$TG_TMP/bad2.conf" | cut -d: -f1)
	out=$("$(tg_bin_dir)/tungate" -n -c "$TG_TMP/bad2.conf" 2>&1)
	rc=$?
	if ((rc == 2)) && [[ $out == *"bad2.conf:$line: [rules] rule 9: unknown upstream \"nosuch\""* ]]; then
		tg_pass "(e) an unknown upstream names the line and the rule: $out"
	else
		tg_fail_check "(e) unknown upstream: exit $rc, '$out' (want bad2.conf:$line: [rules] rule 9)"
	fi
	# Every key has a flag: --set reaches the keys of [upstream NAME] sections too.
	out=$("$(tg_bin_dir)/tungate" --set 'upstream viaflag.type=socks5' \
		--set "upstream viaflag.server=$TG_SERVER_ADDR:1080" \
		--rule "$TG_SERVER_ADDR/32 tcp 80 socks5:viaflag" --print-config 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $out == *"[upstream viaflag]"*"server = $TG_SERVER_ADDR:1080"* ]]; then
		tg_pass "(e) an upstream defined by --set flags shows in --print-config"
	else
		tg_fail_check "(e) --set upstream: exit $rc, '$out'"
	fi
	out=$("$(tg_bin_dir)/tungate" -n --set 'upstream viaflag.type=socks5' \
		--rule "$TG_SERVER_ADDR/32 tcp 80 socks5:viaflag" 2>&1)
	rc=$?
	if ((rc == 2)) && [[ $out == *"--set: [upstream viaflag]: no server"* ]]; then
		tg_pass "(e) an incomplete --set upstream is named: $out"
	else
		tg_fail_check "(e) incomplete --set upstream: exit $rc, '$out'"
	fi
	local pid p leaked=""
	for p in relayd stackd; do
		pid=$(tg_gw_child "$p")
		[[ -n $pid ]] || { leaked+=" ($p not running)"; continue; }
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'tgpass-b|wrong-password' && leaked+=" $p"
	done
	if [[ -z $leaked ]]; then
		tg_pass "(e) no password on relayd's or stackd's command line (they read a sealed memfd)"
	else
		tg_fail_check "(e) passwords on the command line of:$leaked"
	fi
}

start --handshake fast
check_upstreams
check_reject fast
check_modes fast
check_mapping
check_config_errors
start --handshake consistent
check_reject consistent
check_modes consistent
tg_check_gateway_alive
tg_check_children_stable
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 80
	echo "test_rules: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_rules: all checks passed"
exit 0
