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

tg_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $TG_WATCHDOG_PID ]]; then
		kill -TERM "$TG_WATCHDOG_PID" 2>/dev/null
		wait "$TG_WATCHDOG_PID" 2>/dev/null
	fi
	tg_stop_gateway
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
		return 0
	fi
	local bin=${TG_BIN_DIR:-$TG_REPO_DIR/build/bin}
	local b
	for b in tungate tunio stackd relayd; do
		[[ -x $bin/$b ]] || fail "$bin/$b not found: build first (scripts/build.sh), or pass the bin dir"
	done
	local -a cmd=("$bin/tungate" --netns "$TG_NS_CLIENT" --tun-address "$TG_CLIENT_PREFIX")
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
	tg_say "TUN $TG_TUN is up in $TG_NS_CLIENT: $(ip -n "$TG_NS_CLIENT" -br link show dev "$TG_TUN" | tr -s ' ')"
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
