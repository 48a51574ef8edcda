# shellcheck shell=bash
# Helpers for tungate's end-to-end tests and the demo. Source it from bash; needs root.
#
# Topology (three network namespaces, all addresses inside 198.18.0.0/15, no route outside):
#
#   client ns                  gateway ns                           server ns
#   TUN (created by tungate    tungate + tunio/stackd/relayd        veth 198.18.1.2/24
#   --netns CLIENT) with       veth 198.18.1.1/24  <------------->  (httpd.py / http.server)
#   198.18.0.1/24,             lo up, NO default route
#   route 198.18.1.0/24 dev TUN
#
# The client reaches the server only through tungate: relayd opens the outbound sockets from
# the gateway namespace, so the server sees 198.18.1.1 and needs no route back.
#
# Kernel path (TG_E2E_KERNEL_PATH=1): instead of starting tungate, tg_start_gateway links the
# client to the gateway with a veth pair (client 198.18.0.1/24, gateway 198.18.0.254/24), turns
# on ip_forward in the gateway namespace and gives the server a route back, so the very same
# checks run over the kernel's own routing. It validates the tests and servers without tungate
# and is the baseline the benchmarks compare tungate with. Keep it working.
#
# Usage:
#   . tests/e2e/lib.sh
#   tg_init tge2e "$$"        # names tge2e-PID-{client,gw,server}, temp dir, traps, watchdog
#   tg_topology               # namespaces + server<->gateway veth
#   tg_start_httpd [args]     # httpd.py serve in the server ns (TG_HTTP_PORT, TG_TCP_PORT)
#   tg_start_gateway [args]   # tungate (extra args appended) or the kernel path
#   ... checks: tg_pass / tg_fail_check / fail ...
#   (cleanup runs from the EXIT trap, whatever happens)
#
# IPv6 (opt-in, tg_setup_ipv6; documentation prefix 2001:db8::/32 only, nothing routed outside):
#   client: TUN 2001:db8::1/64 (nodad), route 2001:db8:1::/64 dev TUN
#   gateway: veth-srv 2001:db8:1::1/64, server: veth-gw 2001:db8:1::2/64 (nodad on both)
#   kernel path: client veth 2001:db8::1/64, gateway veth-cli 2001:db8::fe/64, IPv6 forwarding
#   in the gateway, server route 2001:db8::/64 via 2001:db8:1::1.
# tg_setup_ipv6 may be called before or after tg_start_gateway: once called, every (re)start of
# the gateway configures the new TUN too. Servers should then listen on both families.
# Unused addresses (no host has them, for "unreachable" checks): TG_UNUSED_ADDR 198.18.1.99 and
# TG_UNUSED6_ADDR 2001:db8:1::99, inside the server subnet.
#
# ICMP: tg_topology sets net.ipv4.ping_group_range="0 2147483647" in the gateway namespace.
# relayd relays ICMP echo through unprivileged ICMP sockets (socket(AF_INET[6], SOCK_DGRAM,
# IPPROTO_ICMP[V6])), which the kernel allows only to processes whose group is inside that range
# (default "1 0": nobody, not even root). The sysctl is per network namespace and covers ICMPv6
# sockets too; it changes nothing outside the test's own gateway namespace.
#
# Flow-semantics helpers (tests/e2e/flowpeer.py): tg_start_flowpeer runs its TCP command server,
# banner server and UDP echo server in the server namespace on every server address;
# tg_flowpeer runs one of its clients in the client namespace. tg_start_dnsmasq and
# tg_start_iperf3_server start those servers in the server namespace; tg_relayd_fd_idle notes
# relayd's idle descriptor count (RELAYD, FD_BASE) for a test's own leak check. tg_gw_child NAME, tg_fd_count,
# tg_rss_kib inspect tungate's children; tg_tungate_accepts ARGS says whether this build of
# tungate accepts a flag; tg_start_bg runs any long-lived helper (dnsmasq, iperf3 -s) with its
# pid tracked for cleanup. TAP mode tests: tg_tap_init, tg_tap_gateway_mac and the
# tg_tap_check_* helpers (at the end of this file).
#
# Environment: TG_BIN_DIR (where tungate and its children are; default REPO/build/bin),
# TG_E2E_KERNEL_PATH=1, TG_TUNGATE_ARGS (extra tungate args), TG_E2E_DEADLINE (seconds before
# the watchdog stops the test; default 540, under ctest's TIMEOUT of 600), TG_E2E_KEEP_TMP=1.

TG_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TG_REPO_DIR=$(cd "$TG_E2E_DIR/../.." && pwd)
TG_HTTPD="$TG_E2E_DIR/httpd.py"
TG_PYTHON=${TG_PYTHON:-python3}

TG_CLIENT_ADDR=198.18.0.1
TG_CLIENT_PREFIX=198.18.0.1/24
TG_KGW_ADDR=198.18.0.254 # gateway side of the client veth, kernel path only
TG_GW_ADDR=198.18.1.1
TG_SERVER_ADDR=198.18.1.2
TG_SERVER_NET=198.18.1.0/24
TG_CLIENT_NET=198.18.0.0/24
# shellcheck disable=SC2034 # used by the tests that source this file
TG_UNUSED_ADDR=198.18.1.99
# shellcheck disable=SC2034
TG_CLIENT6_ADDR=2001:db8::1
TG_CLIENT6_PREFIX=2001:db8::1/64
TG_KGW6_ADDR=2001:db8::fe # gateway side of the client veth, kernel path only
TG_GW6_ADDR=2001:db8:1::1
TG_SERVER6_ADDR=2001:db8:1::2
TG_SERVER6_NET=2001:db8:1::/64
TG_CLIENT6_NET=2001:db8::/64
# shellcheck disable=SC2034
TG_UNUSED6_ADDR=2001:db8:1::99
TG_IPV6=0
TG_FLOWPEER="$TG_E2E_DIR/flowpeer.py"
TG_FP_TCP_PORT=${TG_FP_TCP_PORT:-9100}
TG_FP_BANNER_PORT=${TG_FP_BANNER_PORT:-9101}
TG_FP_UDP_PORT=${TG_FP_UDP_PORT:-9102}
TG_HTTP_PORT=${TG_HTTP_PORT:-8080}
TG_TCP_PORT=${TG_TCP_PORT:-9000}

TG_KERNEL_PATH=${TG_E2E_KERNEL_PATH:-0}
TG_NS_CLIENT="" TG_NS_GW="" TG_NS_SERVER=""
TG_TMP=
TG_LOG=
TG_TUN=
TG_GW_PID=
TG_HTTPD_PID=
TG_WATCHDOG_PID=
TG_FAILED=0
TG_PIDS=()
# Sanitizer builds: LeakSanitizer runs in the sandboxed children too, at the price of their
# chroot (common/sandbox.c, docs/security.md); test_sandbox.sh turns it off to check the chroot.
# Release builds ignore it. Any sanitizer report in tungate's log fails the test at cleanup.
export TG_SANITIZER_LEAK_CHECK=${TG_SANITIZER_LEAK_CHECK:-1}
TG_NS_CREATED=()

tg_say() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

# Print the gateway's log (last lines), for failures.
tg_show_log() {
	local n=${1:-200}
	if [[ -n $TG_LOG && -s $TG_LOG ]]; then
		echo "----- tungate log ($TG_LOG, last $n lines) -----"
		tail -n "$n" "$TG_LOG"
		echo "----- end of tungate log -----"
	fi
}

# fatal: print why, the tungate log, and exit 1 (cleanup runs from the trap).
fail() {
	echo "FATAL: $*" >&2
	tg_show_log 200 >&2
	exit 1
}

tg_pass() { echo "PASS: $*"; }
tg_fail_check() {
	echo "FAIL: $*"
	TG_FAILED=$((TG_FAILED + 1))
}

# Skip (ctest SKIP_RETURN_CODE 77) when this machine cannot run the test at all.
tg_require_root() {
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP: end-to-end tests need root (network namespaces, TUN); run as root or with sudo"
		exit 77
	fi
	local t
	for t in ip curl "$TG_PYTHON" sha256sum timeout; do
		command -v "$t" >/dev/null || fail "$t not found: run scripts/install-deps.sh"
	done
	if [[ $TG_KERNEL_PATH != 1 && ! -c /dev/net/tun ]]; then
		echo "SKIP: /dev/net/tun is missing on this machine"
		exit 77
	fi
}

# tg_wait_for TIMEOUT_S DESCRIPTION CMD...: poll CMD every 0.1 s until it succeeds.
tg_wait_for() {
	local timeout=$1 what=$2
	shift 2
	local end=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then
			echo "timed out after ${timeout}s waiting for: $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# Kill every process inside network namespace $1 (they are ours: we made the namespace).
tg_kill_ns_pids() {
	local ns=$1 pids i
	pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
	[[ -z $pids ]] && return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[[ -z $pids ]] && return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	sleep 0.2
}

tg_del_ns() {
	local ns=$1
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns" || return 0
	tg_kill_ns_pids "$ns"
	ip netns del "$ns" 2>/dev/null || echo "warning: could not delete namespace $ns" >&2
}

# Remove namespaces left by earlier runs of these tests whose shell is gone (killed by a
# timeout before its trap could run). Names are PREFIX-PID-ROLE.
tg_reap_stale() {
	local prefix=$1 ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^${prefix}-([0-9]+)-(client|gw|server)$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ $pid == "$$" ]] && continue
		kill -0 "$pid" 2>/dev/null && continue
		echo "removing stale namespace $ns"
		tg_del_ns "$ns"
	done
	local d
	for d in "${TMPDIR:-/tmp}/$prefix"-*; do
		[[ -d $d && ${d##*/} =~ ^${prefix}-([0-9]+)\. ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ $pid == "$$" ]] || kill -0 "$pid" 2>/dev/null || rm -rf -- "$d"
	done
}

tg_stop_gateway() {
	[[ -n $TG_GW_PID ]] || return 0
	local pid=$TG_GW_PID i
	TG_GW_PID=
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# Sanitizer reports (ASan, LeakSanitizer at exit, UBSan) of any process in tungate's log.
tg_sanitizer_reports() {
	[[ -n $TG_LOG && -f $TG_LOG ]] || return 0
	grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|LeakSanitizer has encountered|SUMMARY: [A-Za-z]*Sanitizer|runtime error:' "$TG_LOG" | head -n 10
}

tg_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $TG_WATCHDOG_PID ]]; then
		kill -TERM "$TG_WATCHDOG_PID" 2>/dev/null
		wait "$TG_WATCHDOG_PID" 2>/dev/null
	fi
	tg_stop_gateway
	# The leak check runs as each process exits: only now is the log complete.
	local reports
	reports=$(tg_sanitizer_reports)
	if [[ -n $reports ]]; then
		echo "FAIL: sanitizer report(s) in tungate's log:"
		printf '%s\n' "$reports" | sed 's/^/    /'
		grep -E -A 40 -m 3 'ERROR: (AddressSanitizer|LeakSanitizer)' "$TG_LOG" | head -n 120
		((rc == 0)) && rc=1
	fi
	local p
	for p in "${TG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${TG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	local ns
	for ns in "${TG_NS_CREATED[@]}"; do
		tg_del_ns "$ns"
	done
	if [[ -n $TG_TMP && -d $TG_TMP ]]; then
		if [[ ${TG_E2E_KEEP_TMP:-0} == 1 ]]; then
			echo "kept temp dir $TG_TMP"
		else
			rm -rf -- "$TG_TMP"
		fi
	fi
	exit "$rc"
}

# tg_init PREFIX [SUFFIX]: namespace names PREFIX[-SUFFIX]-{client,gw,server}, temp dir,
# traps and the watchdog. With a suffix (tests: $$) stale namespaces of dead runs are reaped;
# without one (the demo) namespaces of the same names are removed first.
tg_init() {
	local prefix=$1 suffix=${2:-}
	tg_require_root
	local base=$prefix${suffix:+-$suffix}
	TG_NS_CLIENT=$base-client
	TG_NS_GW=$base-gw
	TG_NS_SERVER=$base-server
	if [[ -n $suffix ]]; then
		tg_reap_stale "$prefix"
	else
		tg_del_ns "$TG_NS_CLIENT"
		tg_del_ns "$TG_NS_GW"
		tg_del_ns "$TG_NS_SERVER"
	fi
	trap tg_cleanup EXIT
	trap 'fail "interrupted (SIGINT)"' INT
	trap 'fail "terminated (SIGTERM: the watchdog deadline, a ctest timeout or a user)"' TERM
	TG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$base.XXXXXX")
	chmod 755 "$TG_TMP"
	TG_LOG=$TG_TMP/tungate.log
	local deadline=${TG_E2E_DEADLINE:-540} me=$$ nsc=$TG_NS_CLIENT
	(
		sleep "$deadline" &
		sp=$!
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		wait $sp || exit 0
		echo "FATAL: test deadline of ${deadline}s reached, stopping" >&2
		pids=$(ip netns pids "$nsc" 2>/dev/null)
		# shellcheck disable=SC2086
		[[ -n $pids ]] && kill -TERM $pids 2>/dev/null
		kill -TERM "$me"
	) &
	TG_WATCHDOG_PID=$!
}

tg_ns_add() {
	ip netns add "$1" || fail "ip netns add $1"
	TG_NS_CREATED+=("$1")
	ip -n "$1" link set lo up || fail "lo up in $1"
}

# Namespaces, the server<->gateway veth. The client namespace stays empty but for lo: the
# TUN (or, on the kernel path, a veth) is added by tg_start_gateway.
tg_topology() {
	tg_ns_add "$TG_NS_SERVER"
	tg_ns_add "$TG_NS_GW"
	tg_ns_add "$TG_NS_CLIENT"
	# Created inside the gateway namespace, peer moved into the server namespace: the root
	# namespace never sees these names, so parallel runs cannot collide.
	ip -n "$TG_NS_GW" link add veth-srv type veth peer name veth-gw netns "$TG_NS_SERVER" ||
		fail "veth gateway<->server"
	ip -n "$TG_NS_GW" addr add "$TG_GW_ADDR/24" dev veth-srv
	ip -n "$TG_NS_GW" link set veth-srv up
	ip -n "$TG_NS_SERVER" addr add "$TG_SERVER_ADDR/24" dev veth-gw
	ip -n "$TG_NS_SERVER" link set veth-gw up
	if ip -n "$TG_NS_GW" route show default | grep -q .; then
		fail "gateway namespace has a default route"
	fi
	# Unprivileged ICMP sockets for relayd's echo relaying (see the header); per namespace.
	ip netns exec "$TG_NS_GW" sysctl -qw net.ipv4.ping_group_range="0 2147483647" ||
		fail "net.ipv4.ping_group_range in $TG_NS_GW"
}

tg_listening() { # NS ADDR PORT
	ip netns exec "$1" ss -Hltn "src $2 and sport = :$3" | grep -q .
}

# httpd.py in the server namespace, serving $TG_TMP/www, HTTP on TG_HTTP_PORT and raw TCP
# on TG_TCP_PORT.
tg_start_httpd() {
	mkdir -p "$TG_TMP/www"
	ip netns exec "$TG_NS_SERVER" "$TG_PYTHON" "$TG_HTTPD" serve --bind "$TG_SERVER_ADDR" \
		--port "$TG_HTTP_PORT" --tcp-port "$TG_TCP_PORT" --dir "$TG_TMP/www" \
		--ready-file "$TG_TMP/httpd.ready" "$@" 2>"$TG_TMP/httpd.log" &
	TG_HTTPD_PID=$!
	TG_PIDS+=("$TG_HTTPD_PID")
	tg_wait_for 15 "httpd.py ready" test -e "$TG_TMP/httpd.ready" ||
		{ cat "$TG_TMP/httpd.log" >&2; fail "httpd.py did not start"; }
}

tg_gw_alive() { [[ -n $TG_GW_PID ]] && kill -0 "$TG_GW_PID" 2>/dev/null; }

# Name of the device in the client namespace that carries TG_CLIENT_ADDR and is up.
tg_find_tun() {
	local dev
	dev=$(ip -n "$TG_NS_CLIENT" -o -4 addr show to "$TG_CLIENT_ADDR/32" 2>/dev/null | awk '{print $2; exit}')
	[[ -n $dev ]] || return 1
	# UP, and LOWER_UP: for a TUN that means a process has its fd open.
	ip -n "$TG_NS_CLIENT" link show dev "$dev" | grep -q '[<,]UP[,>].*LOWER_UP\|LOWER_UP.*[<,]UP[,>]' || return 1
	echo "$dev"
}

tg_tun_ready() {
	tg_gw_alive || return 2
	tg_find_tun >/dev/null
}

# Start the gateway: tungate in the gateway namespace creating its TUN in the client
# namespace (extra arguments are appended to tungate's), or the kernel path.
tg_start_gateway() {
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		tg_say "kernel path: veth client<->gateway, ip_forward in the gateway (no tungate)"
		ip -n "$TG_NS_GW" link add veth-cli type veth peer name veth-gw netns "$TG_NS_CLIENT" ||
			fail "veth gateway<->client"
		ip -n "$TG_NS_GW" addr add "$TG_KGW_ADDR/24" dev veth-cli
		ip -n "$TG_NS_GW" link set veth-cli up
		ip -n "$TG_NS_CLIENT" addr add "$TG_CLIENT_PREFIX" dev veth-gw
		ip -n "$TG_NS_CLIENT" link set veth-gw up
		ip -n "$TG_NS_CLIENT" route add "$TG_SERVER_NET" via "$TG_KGW_ADDR"
		ip netns exec "$TG_NS_GW" sysctl -qw net.ipv4.ip_forward=1
		ip -n "$TG_NS_SERVER" route add "$TG_CLIENT_NET" via "$TG_GW_ADDR"
		TG_TUN=veth-gw
		echo "(kernel path: no tungate log)" >"$TG_LOG"
		[[ $TG_IPV6 == 1 ]] && tg_tun_ipv6
		return 0
	fi
	local bin=${TG_BIN_DIR:-$TG_REPO_DIR/build/bin}
	local kids=${TG_LIBEXEC_DIR:-$bin} # `tungate demo` of an installed package sets it
	local b d
	for b in tungate tunio stackd relayd; do
		[[ $b == tungate ]] && d=$bin || d=$kids
		[[ -x $d/$b ]] || fail "$d/$b not found: build first (scripts/build.sh), or pass the bin dir"
	done
	local -a cmd=("$bin/tungate" --netns "$TG_NS_CLIENT" --tun-address "$TG_CLIENT_PREFIX")
	[[ $kids != "$bin" ]] && cmd+=(--libexec-dir "$kids")
	# shellcheck disable=SC2206
	[[ -n ${TG_TUNGATE_ARGS:-} ]] && cmd+=($TG_TUNGATE_ARGS)
	cmd+=("$@")
	tg_say "starting (in $TG_NS_GW): ${cmd[*]}"
	ip netns exec "$TG_NS_GW" "${cmd[@]}" </dev/null >>"$TG_LOG" 2>&1 &
	TG_GW_PID=$!
	local end=$((SECONDS + 20)) r
	while :; do
		tg_tun_ready
		r=$?
		((r == 0)) && break
		((r == 2)) && { wait "$TG_GW_PID"; TG_GW_RC=$?; TG_GW_PID=; fail "tungate exited (status $TG_GW_RC) before its TUN was up"; }
		((SECONDS >= end)) && fail "no TUN with $TG_CLIENT_PREFIX up in $TG_NS_CLIENT after 20s"
		sleep 0.1
	done
	TG_TUN=$(tg_find_tun)
	ip -n "$TG_NS_CLIENT" route add "$TG_SERVER_NET" dev "$TG_TUN" ||
		fail "route $TG_SERVER_NET dev $TG_TUN in $TG_NS_CLIENT"
	[[ $TG_IPV6 == 1 ]] && tg_tun_ipv6
	tg_say "TUN $TG_TUN is up in $TG_NS_CLIENT: $(ip -n "$TG_NS_CLIENT" -br link show dev "$TG_TUN" | tr -s ' ')"
	tg_fd_baseline
}

# Descriptor counts of tungate and its children once they are set up (steady for 0.3 s), for
# the teardown check: "tungate=N tunio=N stackd=N relayd=N", empty if a process is missing.
TG_FD_BASE=
tg_fd_counts() {
	local out c pid
	out="tungate=$(tg_fd_count "$TG_GW_PID")"
	for c in tunio stackd relayd; do
		pid=$(tg_gw_child "$c")
		[[ -n $pid ]] || return 1
		out+=" $c=$(tg_fd_count "$pid")"
	done
	echo "$out"
}
tg_fd_baseline() {
	local prev='' cur i
	TG_FD_BASE=
	for ((i = 0; i < 30; i++)); do
		cur=$(tg_fd_counts) || cur=
		if [[ -n $cur && $cur == "$prev" ]]; then
			TG_FD_BASE=$cur
			return 0
		fi
		prev=$cur
		sleep 0.15
	done
}

# Teardown (from tg_check_clean_stop): once traffic stopped, tungate, tunio and stackd hold the
# descriptors they started with, relayd too when it holds no flow (its sockets are per flow),
# and every link slot of stackd is back (stackd's link_*_slots_out, with a stats file). Waits
# up to 5 s for flows that are still closing.
tg_relayd_idle() {
	[[ -n $TG_STATS_FILE ]] || return 1
	local k v
	for k in tcp_flows_open udp_flows_open icmp_requests; do
		v=$(tg_stat relayd "$k") || return 1
		((v == 0)) || return 1
	done
	[[ $(tg_stat relayd socks_udp_assoc_opened) == "$(tg_stat relayd socks_udp_assoc_ended)" ]]
}
tg_check_baseline() {
	[[ $TG_KERNEL_PATH == 1 || -z $TG_FD_BASE ]] && return 0
	local want=$TG_FD_BASE cur i slots=ok relayd_too=0 a b
	tg_relayd_idle && relayd_too=1
	((relayd_too)) || want=${want% relayd=*}
	for ((i = 0; i < 50; i++)); do
		cur=$(tg_fd_counts) || cur=
		((relayd_too)) || cur=${cur% relayd=*}
		slots=ok
		if [[ -n $TG_STATS_FILE ]]; then
			a=$(tg_stat stackd link_a_slots_out) || a=0
			b=$(tg_stat stackd link_b_slots_out) || b=0
			((a == 0 && b == 0)) || slots="link A $a, link B $b slots out"
		fi
		[[ $cur == "$want" && $slots == ok ]] && break
		sleep 0.1
	done
	if [[ $cur != "$want" ]]; then
		tg_fail_check "descriptors not back to their baseline after the test: $cur (baseline $want)"
	elif [[ $slots != ok ]]; then
		tg_fail_check "stackd's link slots not all back after the test: $slots"
	else
		tg_pass "descriptors back to baseline ($cur${TG_STATS_FILE:+, all link slots back})"
	fi
}

# Run a command in the client namespace.
tg_client() { ip netns exec "$TG_NS_CLIENT" "$@"; }

# After the checks: tungate must still be running (a crash mid-test is a failure).
tg_check_gateway_alive() {
	[[ $TG_KERNEL_PATH == 1 ]] && return 0
	if tg_gw_alive; then
		tg_pass "tungate still running after the checks"
	else
		tg_fail_check "tungate died during the test"
	fi
}

# SIGTERM must stop tungate and all its children within 10 s, with exit status 0.
tg_check_clean_stop() {
	[[ $TG_KERNEL_PATH == 1 ]] && return 0
	tg_gw_alive || { tg_fail_check "clean stop: tungate is not running"; return; }
	tg_check_baseline
	local pid=$TG_GW_PID i rc left t0
	t0=$(tg_now)
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		tg_fail_check "clean stop: tungate still running 10s after SIGTERM"
		return
	fi
	wait "$pid"
	rc=$?
	TG_GW_PID=
	for ((i = 0; i < 50; i++)); do
		left=$(ip netns pids "$TG_NS_GW" 2>/dev/null)
		[[ -z $left ]] && break
		sleep 0.1
	done
	if [[ -n $left ]]; then
		tg_fail_check "clean stop: processes left in $TG_NS_GW after tungate exited: $(ps -o pid=,comm= -p "${left//$'\n'/,}" | tr '\n' ' ')"
	elif ((rc != 0)); then
		tg_fail_check "clean stop: tungate exited with status $rc after SIGTERM (want 0)"
	else
		tg_pass "clean stop: SIGTERM stopped tungate and all its children in $(tg_elapsed "$t0")s, status 0"
	fi
}

# Human-readable speed from bytes and seconds (float strings).
tg_rate() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.000001; printf "%.1f MB/s", b / s / 1e6 }'; }
tg_now() { date +%s.%N; }
tg_elapsed() { awk -v a="$1" -v b="$(tg_now)" 'BEGIN { printf "%.3f", b - a }'; }

# ---- IPv6, helper processes, inspecting tungate's children (flow-semantics tests) ----------

tg_skip() { echo "SKIP: $*"; }

# No tentative (DAD in progress) IPv6 address left in namespace $1 (at most 5 s).
tg_wait_no_tentative() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	tg_wait_for 5 "IPv6 DAD finished in $1" bash -c '! ip -n "$1" -6 addr show tentative | grep -q .' _ "$1"
}

# IPv6 on the TUN (or, kernel path, the client veth) of the running gateway; called by
# tg_start_gateway when tg_setup_ipv6 was called, and by tg_setup_ipv6 when the gateway runs.
tg_tun_ipv6() {
	[[ -n $TG_TUN ]] || fail "tg_tun_ipv6: no gateway started"
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		ip -n "$TG_NS_GW" -6 addr add "$TG_KGW6_ADDR/64" dev veth-cli nodad ||
			fail "IPv6 address on veth-cli in $TG_NS_GW"
		ip netns exec "$TG_NS_GW" sysctl -qw net.ipv6.conf.all.forwarding=1
		ip -n "$TG_NS_CLIENT" -6 addr add "$TG_CLIENT6_PREFIX" dev "$TG_TUN" nodad ||
			fail "IPv6 address on $TG_TUN in $TG_NS_CLIENT"
		ip -n "$TG_NS_CLIENT" -6 route add "$TG_SERVER6_NET" via "$TG_KGW6_ADDR" ||
			fail "IPv6 route in $TG_NS_CLIENT"
		ip -n "$TG_NS_SERVER" -6 route replace "$TG_CLIENT6_NET" via "$TG_GW6_ADDR" ||
			fail "IPv6 route back in $TG_NS_SERVER"
		if ! tg_wait_no_tentative "$TG_NS_GW" || ! tg_wait_no_tentative "$TG_NS_CLIENT"; then
			fail "IPv6 addresses still tentative"
		fi
		return 0
	fi
	ip -n "$TG_NS_CLIENT" -6 addr add "$TG_CLIENT6_PREFIX" dev "$TG_TUN" nodad ||
		fail "IPv6 address $TG_CLIENT6_PREFIX on $TG_TUN in $TG_NS_CLIENT"
	ip -n "$TG_NS_CLIENT" -6 route add "$TG_SERVER6_NET" dev "$TG_TUN" ||
		fail "IPv6 route $TG_SERVER6_NET dev $TG_TUN in $TG_NS_CLIENT"
}

# Opt in to IPv6 (see the header). After tg_topology; before or after tg_start_gateway.
tg_setup_ipv6() {
	TG_IPV6=1
	ip -n "$TG_NS_GW" -6 addr add "$TG_GW6_ADDR/64" dev veth-srv nodad ||
		fail "IPv6 address $TG_GW6_ADDR on veth-srv in $TG_NS_GW"
	ip -n "$TG_NS_SERVER" -6 addr add "$TG_SERVER6_ADDR/64" dev veth-gw nodad ||
		fail "IPv6 address $TG_SERVER6_ADDR on veth-gw in $TG_NS_SERVER"
	# Link-local addresses (made when the veths came up) must finish DAD before NDP is reliable.
	if ! tg_wait_no_tentative "$TG_NS_GW" || ! tg_wait_no_tentative "$TG_NS_SERVER"; then
		fail "IPv6 addresses still tentative after 5s"
	fi
	if [[ -n $TG_TUN ]]; then
		tg_tun_ipv6
	fi
	if ip -n "$TG_NS_GW" -6 route show default | grep -q .; then
		fail "gateway namespace has an IPv6 default route"
	fi
}

# Route NET from the client namespace through the gateway (TUN, or the kernel path's veth).
tg_client_route() {
	local net=$1
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		ip -n "$TG_NS_CLIENT" route add "$net" via "$TG_KGW_ADDR" || fail "route $net in $TG_NS_CLIENT"
	else
		ip -n "$TG_NS_CLIENT" route add "$net" dev "$TG_TUN" || fail "route $net dev $TG_TUN in $TG_NS_CLIENT"
	fi
}

# tg_start_bg NAME NS CMD...: a long-lived helper in namespace NS, output in $TG_TMP/NAME.log,
# pid in TG_BG_PID and in TG_PIDS (stopped by the cleanup trap).
tg_start_bg() {
	local name=$1 ns=$2
	shift 2
	ip netns exec "$ns" "$@" </dev/null >"$TG_TMP/$name.log" 2>&1 &
	TG_BG_PID=$!
	TG_PIDS+=("$TG_BG_PID")
}

# httpd.py (as tg_start_httpd) on another address, e.g. the server's IPv6 address.
tg_start_httpd_at() {
	local addr=$1 name=$2
	shift 2
	mkdir -p "$TG_TMP/www"
	tg_start_bg "$name" "$TG_NS_SERVER" "$TG_PYTHON" "$TG_HTTPD" serve --bind "$addr" \
		--port "$TG_HTTP_PORT" --tcp-port "$TG_TCP_PORT" --dir "$TG_TMP/www" \
		--ready-file "$TG_TMP/$name.ready" "$@"
	tg_wait_for 15 "$name ready" test -e "$TG_TMP/$name.ready" ||
		{ cat "$TG_TMP/$name.log" >&2; fail "$name did not start"; }
}

# flowpeer.py's servers in the server namespace on the server's address(es): TCP command server
# (TG_FP_TCP_PORT), banner server (TG_FP_BANNER_PORT), UDP echo (TG_FP_UDP_PORT). Results of
# server-side observations land in $TG_TMP/results (TG_FP_RESULTS).
tg_start_flowpeer() {
	TG_FP_RESULTS=$TG_TMP/results
	mkdir -p "$TG_FP_RESULTS"
	local -a binds=(--bind "$TG_SERVER_ADDR")
	[[ $TG_IPV6 == 1 ]] && binds+=(--bind "$TG_SERVER6_ADDR")
	tg_start_bg flowpeer "$TG_NS_SERVER" "$TG_PYTHON" "$TG_FLOWPEER" serve "${binds[@]}" \
		--tcp-port "$TG_FP_TCP_PORT" --banner-port "$TG_FP_BANNER_PORT" --udp-port "$TG_FP_UDP_PORT" \
		--results "$TG_FP_RESULTS" --ready-file "$TG_TMP/flowpeer.ready" "$@"
	tg_wait_for 15 "flowpeer.py ready" test -e "$TG_TMP/flowpeer.ready" ||
		{ cat "$TG_TMP/flowpeer.log" >&2; fail "flowpeer.py did not start"; }
}

# Run a flowpeer.py client in the client namespace (bounded by TG_FP_CLIENT_TIMEOUT, 120 s).
tg_flowpeer() {
	tg_client timeout "${TG_FP_CLIENT_TIMEOUT:-120}" "$TG_PYTHON" "$TG_FLOWPEER" "$@"
}

# dnsmasq in the server namespace on the server's IPv4 and IPv6 addresses, answering NAME
# with A and AAAA and nothing else (no upstream, no hosts file); queries logged to
# $TG_TMP/dnsmasq.log.
tg_start_dnsmasq() {
	local name=$1 a=$2 aaaa=$3
	tg_start_bg dnsmasq "$TG_NS_SERVER" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts \
		--bind-interfaces --listen-address="$TG_SERVER_ADDR" --listen-address="$TG_SERVER6_ADDR" \
		--address="/$name/$a" --address="/$name/$aaaa" \
		--pid-file="$TG_TMP/dnsmasq.pid" --log-facility=- --log-queries
	tg_wait_for 10 "dnsmasq listening" tg_dnsmasq_ready ||
		{ cat "$TG_TMP/dnsmasq.log" >&2; fail "dnsmasq did not start"; }
}
tg_dnsmasq_ready() { ip netns exec "$TG_NS_SERVER" ss -Hlun "sport = :53" | grep -qF "[$TG_SERVER6_ADDR]:53"; }

# iperf3 -s on PORT in the server namespace.
tg_start_iperf3_server() {
	tg_start_bg iperf3 "$TG_NS_SERVER" iperf3 -s -p "$1"
	tg_wait_for 10 "iperf3 -s listening" tg_listening "$TG_NS_SERVER" '*' "$1" ||
		{ cat "$TG_TMP/iperf3.log" >&2; fail "iperf3 -s did not start"; }
}

# relayd's pid and its idle descriptor count, as RELAYD and FD_BASE, for a test's own leak
# check (both empty on the kernel path).
tg_relayd_fd_idle() {
	RELAYD=
	FD_BASE=
	[[ $TG_KERNEL_PATH == 1 ]] && return 0
	RELAYD=$(tg_gw_child relayd)
	[[ -n $RELAYD ]] || fail "no relayd child of tungate (pid $TG_GW_PID)"
	sleep 0.5
	FD_BASE=$(tg_fd_count "$RELAYD")
	tg_say "relayd pid $RELAYD: $FD_BASE open fds while idle (baseline)"
}

tg_bin_dir() { echo "${TG_BIN_DIR:-$TG_REPO_DIR/build/bin}"; }

# Does this build of tungate accept these extra arguments? (tungate -n checks the flags and the
# configuration without starting anything.)
tg_tungate_accepts() {
	[[ $TG_KERNEL_PATH == 1 ]] && return 0
	"$(tg_bin_dir)/tungate" -n --tun-address "$TG_CLIENT_PREFIX" "$@" >/dev/null 2>&1
}

# PID of tungate's child process NAME (tunio, stackd, relayd); empty when there is none.
tg_gw_child() {
	[[ -n $TG_GW_PID ]] || return 1
	pgrep -P "$TG_GW_PID" -x "$1" | head -n 1
}

# Open fds of process PID (-1 if it is gone).
tg_fd_count() {
	local n
	n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	[[ -d /proc/$1/fd ]] || n=-1
	echo "$n"
}

# Summed VmRSS in KiB of PIDs (-1 if one is gone).
tg_rss_kib() {
	local p sum=0 v
	for p in "$@"; do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		[[ -n $v ]] || { echo -1; return; }
		sum=$((sum + v))
	done
	echo "$sum"
}

# Seconds as a float comparison: tg_fcmp A OP B (OP: < <= > >=), for timing checks.
tg_fcmp() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
	r = (op == "<") ? a < b : (op == "<=") ? a <= b : (op == ">") ? a > b : a >= b; exit !r }'; }

# Counters (`tungate stats`). tg_stats_setup sets TG_STATS_ARGS to "--stats-file
# $TG_TMP/tungate.stats" when this tungate publishes counters (else empty; pass it to
# tg_start_gateway); tg_stat PROC NAME prints one counter ('' and status 1 when unavailable).
TG_STATS_FILE=
TG_STATS_ARGS=()
tg_stats_setup() {
	TG_STATS_ARGS=()
	TG_STATS_FILE=
	[[ $TG_KERNEL_PATH == 1 ]] && return 1
	tg_tungate_accepts --stats-file "$TG_TMP/tungate.stats" || return 1
	TG_STATS_FILE=$TG_TMP/tungate.stats
	# shellcheck disable=SC2034 # passed to tg_start_gateway by the tests
	TG_STATS_ARGS=(--stats-file "$TG_STATS_FILE")
}
tg_stat() {
	[[ -n $TG_STATS_FILE ]] || return 1
	local v i
	# Right after a start a process may not have published yet: wait up to 3 s for it.
	for ((i = 0; i < 30; i++)); do
		v=$("$(tg_bin_dir)/tungate" stats --json --stats-file "$TG_STATS_FILE" 2>/dev/null |
			"$TG_PYTHON" -c 'import json, sys
try:
    print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])
except (ValueError, KeyError, TypeError):
    pass' "$1" "$2")
		[[ -n $v ]] && break
		sleep 0.1
	done
	[[ -n $v ]] || return 1
	echo "$v"
}

# No child of tungate crashed, was killed or restarted so far, and no sanitizer complained
# (tungate's log). Call before tg_check_clean_stop.
tg_check_children_stable() {
	[[ $TG_KERNEL_PATH == 1 ]] && return 0
	local bad
	bad=$(grep -E '^tungate\[[0-9]+\]: .*(killed by signal|restarted, pid|exited with status [1-9]|giving up)|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$TG_LOG" | head -n 5)
	if [[ -z $bad ]]; then
		tg_pass "no child of tungate crashed or restarted during the test"
	else
		tg_fail_check "a child of tungate crashed or restarted during the test:"
		printf '%s\n' "$bad" | sed 's/^/    /'
	fi
}

# ---- TAP mode (test_tap.sh, test_tap_nd.sh) ------------------------------------------------
# stackd is a host on the client's Ethernet segment (docs/modes.md). tg_tap_init PREFIX skips
# on the kernel path, puts the client at 198.18.0.2/24 (the gateway is .254), runs tg_init and
# checks the neighbour tools; tg_tap_gateway_mac prints stackd's --gateway-mac (status 1 if it
# is not the default 02:54:47:xx:xx:xx); the tg_tap_check_* helpers pass or fail one check.
tg_tap_init() {
	if [[ $TG_KERNEL_PATH == 1 ]]; then
		echo "SKIP: TAP mode has no kernel-path equivalent"
		exit 77
	fi
	# The client is a host on the TAP segment; tg_find_tun finds the device by this address.
	TG_CLIENT_ADDR=198.18.0.2
	TG_CLIENT_PREFIX=198.18.0.2/24
	tg_init "$1" "$$"
	local t
	for t in arping ndisc6 rdisc6; do
		command -v $t >/dev/null || fail "$t not found: run scripts/install-deps.sh (iputils-arping, ndisc6)"
	done
}

tg_tap_gateway_mac() {
	local pid mac
	pid=$(tg_gw_child stackd) || return 1
	mac=$(tr '\0' '\n' <"/proc/$pid/cmdline" | grep -A1 -x -- --gateway-mac | tail -n 1)
	echo "$mac"
	[[ $mac =~ ^02:54:47(:[0-9a-f]{2}){3}$ ]]
}

# tg_tap_check_arping LABEL ADDR MAC: ARP for ADDR from the client is answered by MAC; with
# MAC "none", by nobody.
tg_tap_check_arping() {
	local label=$1 addr=$2 mac=$3 out
	if [[ $mac == none ]]; then
		if ! tg_client timeout 10 arping -c 2 -w 3 -I "$TG_TUN" "$addr" >/dev/null 2>&1; then
			tg_pass "$label: arping $addr: no answer"
		else
			tg_fail_check "$label: arping $addr: answered"
		fi
		return
	fi
	out=$(tg_client timeout 10 arping -c 2 -w 5 -I "$TG_TUN" "$addr" 2>&1)
	if grep -qi "reply from $addr \[$mac\]" <<<"$out"; then
		tg_pass "$label: arping $addr: answered by $mac"
	else
		tg_fail_check "$label: arping $addr: no reply from $mac: $(tr '\n' ' ' <<<"$out")"
	fi
}

# tg_tap_check_ndisc6 LABEL ADDR MAC: a neighbour solicitation for ADDR from the client is
# answered with MAC; with MAC "none", not at all.
tg_tap_check_ndisc6() {
	local label=$1 addr=$2 mac=$3 out
	if [[ $mac == none ]]; then
		out=$(tg_client timeout 10 ndisc6 -r 2 -w 800 "$addr" "$TG_TUN" 2>&1)
		if ! grep -qi "Target link-layer address" <<<"$out"; then
			tg_pass "$label: ndisc6 $addr: no answer"
		else
			tg_fail_check "$label: ndisc6 $addr was answered: $(tr '\n' ' ' <<<"$out")"
		fi
		return
	fi
	out=$(tg_client timeout 10 ndisc6 -r 3 -w 1000 "$addr" "$TG_TUN" 2>&1)
	if grep -qi "Target link-layer address: *$mac" <<<"$out"; then
		tg_pass "$label: ndisc6 $addr: $mac"
	else
		tg_fail_check "$label: ndisc6 $addr: want $mac, got: $(tr '\n' ' ' <<<"$out")"
	fi
}

# tg_tap_check_download LABEL CURL_ARGS...: the client fetches $TG_TMP/www/file.bin with curl
# (the URL among the args); it must arrive byte-exact.
tg_tap_check_download() {
	local label=$1 f=$TG_TMP/www/file.bin want got rc
	shift
	want="$(sha256sum <"$f" | cut -d' ' -f1) $(stat -c %s "$f")"
	got=$(tg_client curl -sS --fail --noproxy '*' --connect-timeout 10 "$@" |
		"$TG_PYTHON" "$TG_HTTPD" digest)
	rc=$?
	if ((rc == 0)) && [[ $got == "$want" ]]; then
		tg_pass "$label: $(stat -c %s "$f") bytes byte-exact"
	else
		tg_fail_check "$label: want '$want', got '${got:-nothing}' (exit $rc)"
	fi
}

# tg_tap_check_counter LABEL NAME BEFORE [MORE]: stackd's counter NAME grew by MORE (default
# 1) from BEFORE, once the counters were published again.
tg_tap_check_counter() {
	local label=$1 name=$2 before=$3 more=${4:-1} after
	sleep 1.5 # counters are published once a second
	after=$(tg_stat stackd "$name")
	if ((after >= before + more)); then
		tg_pass "$label: $name $before -> $after"
	else
		tg_fail_check "$label: $name $before -> $after, want at least $more more"
	fi
}
