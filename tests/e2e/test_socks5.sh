#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119 # bash -c scripts expand in the inner shell
# End-to-end: TCP through tungate's SOCKS5 upstream (docs/protocols.md, "Upstreams").
#   client ns --TUN--> tungate (gateway ns) --> microsocks 198.18.1.2:1080 --> httpd.py
# (a) no auth: GET of a file byte-exact through the proxy; with the proxy stopped the same GET
#     fails (so the proxy carried it: the server itself stays reachable from the gateway)
# (b) proxy killed mid-transfer: the client's download fails within a bound (no hang); after
#     the proxy is back, new connections work. A killed proxy closes its sockets: relayd sees a
#     FIN (it cannot tell it from the server's), or a RST if the proxy had unread bytes, and
#     passes it on: curl reports a short transfer (18) or a reset (56).
# (c) username/password: the right password works; a wrong one resets the client (fast mode)
#     or refuses its connection (consistent mode)
# (d) a proxy that accepts and never answers: the connect timeout covers the handshake (fast
#     mode: the client is reset when it expires); 8 such flows at once all end after one
#     timeout, not one after another (relayd waits on no proxy)
# (e) a hostile proxy (wrong versions, unknown address types, codes, truncated or oversized
#     replies, garbage): every flow fails as the reply code says, relayd survives
#
# Usage: test_socks5.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, no microsocks, kernel path).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	echo "SKIP: the kernel path has no SOCKS5 upstream"
	exit 77
fi
if ! command -v microsocks >/dev/null; then
	echo "SKIP: microsocks not installed (scripts/install-deps.sh)"
	exit 77
fi

PROXY_PORT=1080
PROXY=$TG_SERVER_ADDR:$PROXY_PORT
URL=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10)
FILE_MB=8
SOCKS_PID=

tg_init tgsocks "$$"
tg_topology
tg_start_httpd

digest() { "$TG_PYTHON" "$TG_HTTPD" digest; }

# start_proxy [microsocks args]: microsocks on PROXY in the server namespace.
start_proxy() {
	tg_start_bg microsocks "$TG_NS_SERVER" microsocks -i "$TG_SERVER_ADDR" -p "$PROXY_PORT" "$@"
	SOCKS_PID=$TG_BG_PID
	tg_wait_for 10 "microsocks listening" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$PROXY_PORT" ||
		fail "microsocks did not start: $(cat "$TG_TMP/microsocks.log")"
}

stop_proxy() {
	[[ -n $SOCKS_PID ]] || return 0
	kill -KILL "$SOCKS_PID" 2>/dev/null
	wait "$SOCKS_PID" 2>/dev/null
	SOCKS_PID=
	tg_wait_for 5 "microsocks gone" bash -c '! ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .' \
		_ "$TG_NS_SERVER" "$PROXY_PORT"
}

# restart_gateway ARGS...: tungate with the SOCKS5 upstream and ARGS.
restart_gateway() {
	tg_stop_gateway
	tg_start_gateway --log-level debug --upstream socks5 --socks5-server "$PROXY" "$@"
}

# get_file [MAX_TIME]: "SHA LEN" of the file as the client received it in GOT, curl's exit
# status in GET_RC (not in a subshell: both are globals).
GOT="" GET_RC=""
get_file() {
	tg_client "${CURL[@]}" --max-time "${1:-60}" "$URL/file.bin" 2>"$TG_TMP/curl.err" |
		digest >"$TG_TMP/got"
	GET_RC=${PIPESTATUS[0]}
	GOT=$(cat "$TG_TMP/got")
}

"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 5 >"$TG_TMP/www/file.bin"
WANT="$(sha256sum <"$TG_TMP/www/file.bin" | cut -d' ' -f1) $((FILE_MB * 1024 * 1024))"

# (a) ------------------------------------------------------------------------------------------
check_no_auth() {
	local got t0 el
	start_proxy
	restart_gateway
	get_file; got=$GOT
	if ((GET_RC == 0)) && [[ $got == "$WANT" ]]; then
		tg_pass "(a) GET through microsocks (no auth): $got byte-exact"
	else
		tg_fail_check "(a) GET through microsocks: want '$WANT', got '$got' (curl $GET_RC: $(head -c 200 "$TG_TMP/curl.err"))"
	fi
	stop_proxy
	t0=$(tg_now)
	get_file 20; got=$GOT
	el=$(tg_elapsed "$t0")
	if ((GET_RC != 0)) && tg_fcmp "$el" "<" 15; then
		tg_pass "(a) proxy stopped: the same GET fails in ${el}s (curl $GET_RC: $(head -c 80 "$TG_TMP/curl.err")), so the proxy carried it"
	else
		tg_fail_check "(a) proxy stopped: GET should fail, curl exit $GET_RC after ${el}s"
	fi
}

# (b) ------------------------------------------------------------------------------------------
check_proxy_killed() {
	local t0 el rc got
	start_proxy
	t0=$(tg_now)
	# 4 GB: still running when the proxy dies after 1 s (sockets buffer megabytes: a small
	# file would already have passed the proxy).
	tg_client "${CURL[@]}" --max-time 60 -o /dev/null "$URL/bytes/4000000000?seed=7" 2>"$TG_TMP/curl-b.err" &
	local cpid=$!
	sleep 1
	stop_proxy
	wait "$cpid"
	rc=$?
	el=$(tg_elapsed "$t0")
	if ((rc == 18 || rc == 56 || rc == 52)) && tg_fcmp "$el" "<" 20; then
		tg_pass "(b) proxy killed mid-transfer: the client's download ended with an error after ${el}s (curl $rc: $(head -c 100 "$TG_TMP/curl-b.err"))"
	else
		tg_fail_check "(b) proxy killed mid-transfer: curl exit $rc after ${el}s (want an error, not a hang)"
	fi
	start_proxy
	get_file; got=$GOT
	if ((GET_RC == 0)) && [[ $got == "$WANT" ]]; then
		tg_pass "(b) proxy restarted: a new GET is byte-exact again"
	else
		tg_fail_check "(b) proxy restarted: want '$WANT', got '$got' (curl $GET_RC)"
	fi
	stop_proxy
}

# (c) ------------------------------------------------------------------------------------------
# wrong_password MODE WANT_RC...: curl's exit status must be one of WANT_RC.
wrong_password() {
	local mode=$1 got t0 el ok=0 w
	shift
	restart_gateway --handshake "$mode" --socks5-user tguser --socks5-password wrong
	t0=$(tg_now)
	get_file 20; got=$GOT
	el=$(tg_elapsed "$t0")
	for w in "$@"; do ((GET_RC == w)) && ok=1; done
	if ((ok)) && tg_fcmp "$el" "<" 10; then
		tg_pass "(c) wrong password, $mode mode: curl $GET_RC in ${el}s ($(head -c 100 "$TG_TMP/curl.err"))"
	else
		tg_fail_check "(c) wrong password, $mode mode: curl $GET_RC in ${el}s, want one of $* ($(head -c 100 "$TG_TMP/curl.err"))"
	fi
}

check_auth() {
	local got
	start_proxy -u tguser -P tgpass
	restart_gateway --socks5-user tguser --socks5-password tgpass
	get_file; got=$GOT
	if ((GET_RC == 0)) && [[ $got == "$WANT" ]]; then
		tg_pass "(c) GET through microsocks with username/password: byte-exact"
	else
		tg_fail_check "(c) GET with the right password: want '$WANT', got '$got' (curl $GET_RC: $(head -c 200 "$TG_TMP/curl.err"))"
	fi
	# relayd wiped the password from its command line.
	local rpid
	rpid=$(tg_gw_child relayd)
	if [[ -n $rpid ]] && ! tr '\0' ' ' <"/proc/$rpid/cmdline" | grep -q tgpass; then
		tg_pass "(c) the password is not in relayd's /proc/PID/cmdline"
	else
		tg_fail_check "(c) relayd's command line still shows the password (pid ${rpid:-none})"
	fi
	# Fast mode: the client was accepted, then reset: 56 (recv failure) or 52 (empty reply);
	# 7 when the RST came before curl saw its connection established (stackd may hold a SYN
	# briefly). Consistent mode: the SYN is answered with RST: 7 (connection refused).
	wrong_password fast 56 52 7
	wrong_password consistent 7
	stop_proxy
}

# (d) ------------------------------------------------------------------------------------------
check_silent_proxy() {
	local t0 el rc
	# Accepts, reads, never answers: a hung proxy.
	tg_start_bg blackhole "$TG_NS_SERVER" "$TG_PYTHON" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
held = []
while True:
    c, _ = s.accept()
    held.append(c)' "$TG_SERVER_ADDR" "$PROXY_PORT"
	local bh=$TG_BG_PID
	tg_wait_for 10 "silent proxy listening" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$PROXY_PORT" ||
		fail "silent proxy did not start"
	restart_gateway --connect-timeout 2
	t0=$(tg_now)
	get_file 20
	el=$(tg_elapsed "$t0")
	if ((GET_RC == 56 || GET_RC == 52 || GET_RC == 7)) && tg_fcmp "$el" ">=" 1.8 && tg_fcmp "$el" "<" 6; then
		tg_pass "(d) silent proxy: the client is reset after ${el}s (connect timeout 2 s, curl $GET_RC)"
	else
		tg_fail_check "(d) silent proxy: curl $GET_RC after ${el}s, want a reset after about 2 s"
	fi
	local n=8
	t0=$(tg_now)
	tg_client bash -c 'for ((i = 0; i < $1; i++)); do "${@:3}" -o /dev/null "$2" 2>/dev/null & done; wait' \
		_ "$n" "$URL/file.bin" "${CURL[@]}" --max-time 20
	el=$(tg_elapsed "$t0")
	if tg_fcmp "$el" "<" 4; then
		tg_pass "(d) $n flows to the silent proxy at once: all ended in ${el}s (one timeout, in parallel)"
	else
		tg_fail_check "(d) $n flows to the silent proxy at once took ${el}s (want < 4 s: handshakes must not wait on each other)"
	fi
	if grep -q 'socks5: proxy did not answer within the connect timeout' "$TG_LOG"; then
		tg_pass "(d) relayd logged the handshake timeout"
	else
		tg_fail_check "(d) relayd did not log the handshake timeout"
	fi
	kill -TERM "$bh" 2>/dev/null
	wait "$bh" 2>/dev/null
}

# (e) ------------------------------------------------------------------------------------------
# Connection k of the hostile proxy gets reply k: after a correct method reply, these CONNECT
# replies (hex; "close" = then close at once), and curl's wanted exit (7 or 56/52: a reset).
HOSTILE=(
	"05 00 00 01 c6 12 01 02 1f|close"   # truncated (port missing), then EOF
	"04 00 00 01 c6 12 01 02 1f 90|"     # SOCKS4 version
	"05 00 00 09 c6 12 01 02 1f 90|"     # unknown ATYP
	"05 00 07 01 c6 12 01 02 1f 90|"     # RSV not zero
	"05 05 00 01 00 00 00 00 00 00|"     # connection refused
	"05 04 00 01 00 00 00 00 00 00|"     # host unreachable
	"05 ff 00 01 00 00 00 00 00 00|"     # unassigned code
	"05 00 00 03 ff 41 41|close"         # domain of 255 bytes announced, 2 sent
	"05 00 00 03 00 00 50|"              # empty domain
	"ff fe fd fc fb fa f9 f8 f7 f6 f5|"  # garbage
)
check_hostile_proxy() {
	local i ok=0 t0 el
	printf '%s\n' "${HOSTILE[@]}" >"$TG_TMP/hostile.txt"
	tg_start_bg hostile "$TG_NS_SERVER" "$TG_PYTHON" -c '
import socket, sys
plan = [l.rstrip("\n").split("|") for l in open(sys.argv[3])]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
k = 0
while True:
    c, _ = s.accept()
    reply, how = plan[k % len(plan)]
    k += 1
    try:
        c.recv(3)
        c.sendall(bytes([5, 0]))
        c.recv(64)
        c.sendall(bytes.fromhex(reply))
        if how != "close":
            c.recv(64)
    except OSError:
        pass
    c.close()' "$TG_SERVER_ADDR" "$PROXY_PORT" "$TG_TMP/hostile.txt"
	local hp=$TG_BG_PID
	tg_wait_for 10 "hostile proxy listening" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$PROXY_PORT" ||
		fail "hostile proxy did not start"
	restart_gateway --connect-timeout 3
	t0=$(tg_now)
	for ((i = 0; i < ${#HOSTILE[@]}; i++)); do
		get_file 10
		# 55: the reset reached curl while it was still sending its request (timing)
		if ((GET_RC == 7 || GET_RC == 52 || GET_RC == 55 || GET_RC == 56)); then
			ok=$((ok + 1))
		else
			echo "  hostile reply $i (${HOSTILE[i]}): curl $GET_RC"
		fi
	done
	el=$(tg_elapsed "$t0")
	if ((ok == ${#HOSTILE[@]})) && tg_gw_alive && [[ -n $(tg_gw_child relayd) ]]; then
		tg_pass "(e) hostile proxy: all ${#HOSTILE[@]} bad replies failed their flow with a reset/refusal in ${el}s, relayd alive"
	else
		tg_fail_check "(e) hostile proxy: $ok of ${#HOSTILE[@]} flows failed cleanly (${el}s)"
	fi
	kill -TERM "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null
}

check_no_auth
check_proxy_killed
check_auth
check_silent_proxy
check_hostile_proxy
tg_check_gateway_alive
tg_check_children_stable
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 80
	echo "test_socks5: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_socks5: all checks passed"
exit 0
