#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2046,SC2119 # bash -c scripts expand in the inner shell; record's fields split on purpose
# tungate's benchmark: every figure measured through tungate and over the kernel's own path in
# the same run, reported as a ratio to the kernel path, beside its target (docs/benchmarks.md).
#
#   sudo bench/run.sh [--quick] [--bin-dir DIR] [--kernel-only] [--profile] [--no-deps]
#
#   --quick        1 run per figure, short durations (development; under 2 minutes)
#   --rev REV      build and measure git revision REV (e.g. HEAD) instead of the working tree
#   --bin-dir DIR  use the tungate binaries in DIR instead of building them under build-bench/
#   --bin-dir-jumbo DIR  binaries for the large MTU (built with -DTG_TCP_MSS=65480); default:
#                  --bin-dir's, whose lwIP then still announces MSS 1460
#   --kernel-only  measure only the kernel path (tungate figures are reported as not run)
#   --profile      also record a perf profile of tunio, stackd and relayd during a 1-stream
#                  upload (bench/results/profile-mtuN.txt; needs linux-perf)
#   --no-deps      do not run bench/deps.sh (apt) first
#   --conns N      idle connections for the memory and "bulk among idle" figures (10000)
#   --only LIST    development: only these groups, comma-separated: conns,tcp,udp,http
#   --wait-quiet S wait up to S seconds for the machine to be idle (< 10 % CPU busy) first
#
# Topology: tests/e2e/lib.sh's three namespaces (client, gateway, server; 198.18.0.0/15 only,
# no route outside). Kernel path: client -veth- gateway (ip_forward) -veth- server. tungate:
# client -TUN- tungate in the gateway -veth- server. The client namespace is made anew for
# every phase; servers (iperf3, nginx, hold_conns.py) live in the server namespace for the
# whole run. Every load is bounded by a duration and by `timeout`; lib.sh's watchdog bounds the
# whole run; the EXIT trap removes the namespaces, every process in them and the temp dir.
#
# Output: bench/results/latest.{json,md,png}; the Markdown table is printed too.
# Exit: 0 when every measurement ran (targets not met do not fail the run), 1 otherwise.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
OUT=$BENCH_DIR/results
WAIT_QUIET=0 ONLY=,conns,tcp,udp,http, REV='' BIN_DIR_JUMBO='' QUICK=0 BIN_DIR='' KERNEL_ONLY=0 PROFILE=0 DEPS=1 CONNS=10000 SMALL_CONNS=1000
LARGE_MTUS=(65520 9000)

usage() { sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--bin-dir) BIN_DIR=$(cd "$2" && pwd) || exit 1; shift ;;
	--bin-dir-jumbo) BIN_DIR_JUMBO=$(cd "$2" && pwd) || exit 1; shift ;;
	--rev) REV=$2; shift ;;
	--kernel-only) KERNEL_ONLY=1 ;;
	--profile) PROFILE=1 ;;
	--no-deps) DEPS=0 ;;
	--conns) CONNS=$2; shift ;;
	--only) ONLY=,$2,; shift ;;
	--wait-quiet) WAIT_QUIET=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if ! [[ $CONNS =~ ^[0-9]+$ ]] || ((CONNS <= SMALL_CONNS)); then
	echo "--conns must be a number > $SMALL_CONNS" >&2
	exit 2
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/run.sh: needs root (network namespaces, TUN): sudo $0" >&2
	exit 1
fi
if ((DEPS)); then
	"$BENCH_DIR/deps.sh" || { echo "bench/run.sh: bench/deps.sh failed" >&2; exit 1; }
fi
for t in iperf3 wrk nginx gnuplot python3 ip timeout; do
	command -v "$t" >/dev/null || { echo "bench/run.sh: $t missing: run bench/deps.sh" >&2; exit 1; }
done

if ((QUICK)); then
	REPS=1 T_TCP=1 T_UDP=1 T_WRK=1 REPS_RR=1 T_RR=1
	export TG_E2E_DEADLINE=${TG_E2E_DEADLINE:-420}
else
	# request/response latency is the noisiest figure on a small VM: more, shorter runs
	REPS=3 T_TCP=3 T_UDP=3 T_WRK=4 REPS_RR=5 T_RR=3
	export TG_E2E_DEADLINE=${TG_E2E_DEADLINE:-1500}
fi
PY=python3
REPORT=$BENCH_DIR/report.py
HOLD=$BENCH_DIR/hold_conns.py
IPERF_TCP_PORT=5201 IPERF_UDP_PORT=5202 HTTP_PORT=8080 HOLD_PORT=9100
CLK_TCK=$(getconf CLK_TCK)
HOLD_PARALLEL=${BENCH_HOLD_PARALLEL:-256} # connection handshakes in flight at once
MAX_FLOWS=$((CONNS + 6000))
RUN_T0=$SECONDS
ERRORS=0

# The holders and servers need many fds; children inherit this.
ulimit -Hn 1048576 2>/dev/null
ulimit -Sn 1048576 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$REPO/tests/e2e/lib.sh"

say() { tg_say "$*" >&2; }
bench_error() {
	ERRORS=$((ERRORS + 1))
	say "ERROR: $*"
}

# ---- build -----------------------------------------------------------------------------------
# Two builds: the default one (lwIP TCP_MSS 1460) for MTU 1500, and a jumbo one with
# -DTG_TCP_MSS=<largest MTU - 40> for the large MTU: lwIP's TCP_MSS is fixed at build time,
# so --mtu alone would leave lwIP announcing 1460 on a 65520-byte TUN. (lwIP lowers its MSS to
# the netif MTU per connection, so the jumbo build is right for every large MTU tried.)
# Working tree: build-bench/tree{,-jumbo}. --rev REV: `git archive REV` into
# build-bench/rev-src, built anew into build-bench/rev{,-jumbo}.
JUMBO_MSS=$((LARGE_MTUS[0] - 40))
BIN_DIR_JUMBO=${BIN_DIR_JUMBO:-}
TG_BUILD_NOTE=
GIT_DESC=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty')
build_one() { # SRC DIR [cmake args]: prints nothing; the log goes to DIR.log
	local src=$1 dir=$2
	shift 2
	"$src/scripts/build.sh" "$dir" -DTG_TESTS=OFF "$@" >"$dir.log" 2>&1 && [[ -x $dir/bin/tungate ]]
}
if ((KERNEL_ONLY == 0)) && [[ -z $BIN_DIR ]]; then
	mkdir -p "$REPO/build-bench"
	src=$REPO tag=tree
	if [[ -n $REV ]]; then
		sha=$(git -C "$REPO" rev-parse --short "$REV^{commit}") || { echo "bench/run.sh: no such revision $REV" >&2; exit 2; }
		src=$REPO/build-bench/rev-src tag=rev GIT_DESC=$sha
		rm -rf "$src" "$REPO/build-bench/rev" "$REPO/build-bench/rev-jumbo"
		mkdir -p "$src"
		git -C "$REPO" archive "$sha" | tar -x -C "$src" || { echo "bench/run.sh: git archive $sha failed" >&2; exit 1; }
	fi
	say "building tungate ($([[ -n $REV ]] && echo "revision $GIT_DESC" || echo "working tree $GIT_DESC")) into build-bench/$tag and build-bench/$tag-jumbo (TCP_MSS $JUMBO_MSS)"
	if build_one "$src" "$REPO/build-bench/$tag"; then
		BIN_DIR=$REPO/build-bench/$tag/bin
		if build_one "$src" "$REPO/build-bench/$tag-jumbo" -DTG_TCP_MSS="$JUMBO_MSS"; then
			BIN_DIR_JUMBO=$REPO/build-bench/$tag-jumbo/bin
		else
			tail -n 20 "$REPO/build-bench/$tag-jumbo.log" >&2
			bench_error "jumbo build (TG_TCP_MSS=$JUMBO_MSS) failed: the large MTU runs with TCP_MSS 1460"
		fi
	else
		tail -n 30 "$REPO/build-bench/$tag.log" >&2
		TG_BUILD_NOTE="build failed"
		bench_error "build of tungate failed (build-bench/$tag.log): tungate figures are not run"
		KERNEL_ONLY=1
	fi
fi
if [[ -n $BIN_DIR && -z $BIN_DIR_JUMBO ]]; then
	BIN_DIR_JUMBO=$BIN_DIR
	JUMBO_MSS=default
fi

# busy_pct: the machine's CPU busy % over 2 s
busy_pct() {
	local a b
	a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
	sleep 2
	b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; p = 0
		if (t > 0) p = 100 * (y[1] - x[1]) / t; printf "%.0f", p }'
}
if [[ $WAIT_QUIET =~ ^[0-9]+$ ]] && ((WAIT_QUIET > 0)); then
	quiet_end=$((SECONDS + WAIT_QUIET))
	while b=$(busy_pct) && ((b >= 10)); do
		if ((SECONDS >= quiet_end)); then
			say "machine still ${b} % busy after ${WAIT_QUIET} s: running anyway (the report will say so)"
			break
		fi
		say "machine ${b} % busy with other work: waiting for it to be quiet"
		sleep 8
	done
fi

tg_init tgbench "$$"
RAW=$TG_TMP/raw.jsonl
: >"$RAW"
SEQ=0
PERF_PID=

bench_cleanup() {
	local rc=$?
	[[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
	(exit "$rc")
	tg_cleanup
}
trap bench_cleanup EXIT

tg_topology
for ns in "$TG_NS_GW" "$TG_NS_SERVER"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1
	ip netns exec "$ns" sysctl -qw net.core.somaxconn=65535
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_max_syn_backlog=65535
done

# record KEY=VALUE... [--iperf FILE | --wrk FILE | --json FILE]: one line of raw results
record() { "$PY" "$REPORT" record "$RAW" phase="$CUR_PATH" mtu="$CUR_MTU" "$@"; }

# ---- servers in the server namespace ---------------------------------------------------------
declare -A SRV_PID
# (ip netns exec directly, not through a function: `func &` would fork a subshell and $! would
# be that subshell's pid, not the server's.)

start_iperf_server() { # PORT
	local port=$1
	ip netns exec "$TG_NS_SERVER" iperf3 -s -B "$TG_SERVER_ADDR" -p "$port" >"$TG_TMP/iperf3-s.$port.log" 2>&1 &
	SRV_PID[iperf$port]=$!
	TG_PIDS+=("$!")
	tg_wait_for 10 "iperf3 server on $port" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$port" ||
		fail "iperf3 server did not start on port $port"
}
restart_iperf_server() { # PORT: after a failed run the server may still wait for its client
	local port=$1 pid=${SRV_PID[iperf$1]:-}
	if [[ -n $pid ]]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	start_iperf_server "$port"
}

start_nginx() {
	local d=$TG_TMP/nginx
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
http {
	access_log off;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	server {
		listen $TG_SERVER_ADDR:$HTTP_PORT backlog=4096;
		location / { return 200 "tungate bench\n"; }
	}
}
EOF
	ip netns exec "$TG_NS_SERVER" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" >"$d/stdout.log" 2>&1 &
	SRV_PID[nginx]=$!
	TG_PIDS+=("$!")
	tg_wait_for 10 "nginx" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$HTTP_PORT" ||
		{ cat "$d/error.log" "$d/stdout.log" >&2; fail "nginx did not start"; }
}

start_hold_server() {
	ip netns exec "$TG_NS_SERVER" "$PY" "$HOLD" serve --bind "$TG_SERVER_ADDR" --port "$HOLD_PORT" \
		--duration "$TG_E2E_DEADLINE" --status "$TG_TMP/hold-server.json" 2>"$TG_TMP/hold-server.log" &
	SRV_PID[hold]=$!
	TG_PIDS+=("$!")
	tg_wait_for 10 "hold_conns server" tg_listening "$TG_NS_SERVER" "$TG_SERVER_ADDR" "$HOLD_PORT" ||
		fail "hold_conns.py serve did not start"
}

start_iperf_server "$IPERF_TCP_PORT"
start_iperf_server "$IPERF_UDP_PORT"
start_nginx
start_hold_server

# ---- gateway phases --------------------------------------------------------------------------
CUR_PATH=none CUR_MTU=0
declare -A CHILD # name -> pid (tungate's children)

stop_phase() {
	case $CUR_PATH in
	tungate) tg_stop_gateway ;;
	kernel)
		ip -n "$TG_NS_SERVER" route del "$TG_CLIENT_NET" 2>/dev/null
		ip netns exec "$TG_NS_GW" sysctl -qw net.ipv4.ip_forward=0
		# Now, not when the kernel gets round to the dead namespace's devices.
		ip -n "$TG_NS_GW" link del veth-cli 2>/dev/null
		;;
	esac
	# Takes the TUN or the kernel path's veth with it, and every client process.
	tg_del_ns "$TG_NS_CLIENT"
	CUR_PATH=none CUR_MTU=0
	CHILD=()
}

find_children() {
	local pid comm i
	for ((i = 0; i < 50; i++)); do
		CHILD=()
		while read -r pid comm; do
			case $comm in tunio | stackd | relayd) CHILD[$comm]=$pid ;; esac
		done < <(ps -o pid=,comm= --ppid "$TG_GW_PID" 2>/dev/null)
		((${#CHILD[@]} == 3)) && return 0
		sleep 0.1
	done
	return 1
}
children_text() { local n s=; for n in tunio stackd relayd; do s+="$n:${CHILD[$n]:-none} "; done; echo "${s% }"; }

# Like lib.sh's tg_start_gateway, but a tungate that does not come up is an error of this
# phase, not the end of the run.
start_tungate() {
	local -a cmd=("$TG_BIN/tungate" --netns "$TG_NS_CLIENT" --tun-address "$TG_CLIENT_PREFIX" "$@")
	echo "===== $(date +%T) ${cmd[*]}" >>"$TG_LOG"
	say "starting tungate: ${cmd[*]}"
	ip netns exec "$TG_NS_GW" "${cmd[@]}" </dev/null >>"$TG_LOG" 2>&1 &
	TG_GW_PID=$!
	local end=$((SECONDS + 20)) r
	while :; do
		tg_tun_ready
		r=$?
		((r == 0)) && break
		if ((r == 2)); then
			wait "$TG_GW_PID"
			say "tungate exited (status $?) before its TUN was up"
			TG_GW_PID=
			tail -n 20 "$TG_LOG" >&2
			return 1
		fi
		if ((SECONDS >= end)); then
			say "no TUN up after 20 s"
			tail -n 20 "$TG_LOG" >&2
			return 1
		fi
		sleep 0.1
	done
	TG_TUN=$(tg_find_tun)
	ip -n "$TG_NS_CLIENT" route add "$TG_SERVER_NET" dev "$TG_TUN" || return 1
	find_children || { say "tungate's children not found: $(children_text)"; return 1; }
	say "tungate up: TUN $TG_TUN, $(ip -n "$TG_NS_CLIENT" -o link show dev "$TG_TUN" | grep -o 'mtu [0-9]*'), $(children_text)"
}

# start_phase kernel|tungate MTU
start_phase() {
	local path=$1 mtu=$2
	stop_phase
	tg_ns_add "$TG_NS_CLIENT"
	ip netns exec "$TG_NS_CLIENT" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	ip -n "$TG_NS_GW" link set veth-srv mtu "$mtu" || return 1
	ip -n "$TG_NS_SERVER" link set veth-gw mtu "$mtu" || return 1
	if [[ $path == kernel ]]; then
		# lib.sh's kernel path overwrites the log file: keep tungate's log of earlier phases.
		cp "$TG_LOG" "$TG_TMP/log.keep" 2>/dev/null
		TG_KERNEL_PATH=1
		tg_start_gateway >&2
		# shellcheck disable=SC2034 # lib.sh reads it
		TG_KERNEL_PATH=0
		cat "$TG_TMP/log.keep" >"$TG_LOG" 2>/dev/null
		ip -n "$TG_NS_GW" link set veth-cli mtu "$mtu" || return 1
		ip -n "$TG_NS_CLIENT" link set veth-gw mtu "$mtu" || return 1
	else
		TG_BIN=$BIN_DIR
		((mtu > 1500)) && TG_BIN=$BIN_DIR_JUMBO
		local -a extra=()
		STATS_FILE=
		# tungate's counters (tungate stats), where this build has them, in our temp dir
		if "$TG_BIN/tungate" --help 2>&1 | grep -q -- --stats-file; then
			STATS_FILE=$TG_TMP/tungate-$mtu.stats
			extra=(--stats-file "$STATS_FILE")
		fi
		start_tungate --mtu "$mtu" --max-flows "$MAX_FLOWS" --log-level warning "${extra[@]}" || return 1
	fi
	CUR_PATH=$path CUR_MTU=$mtu
	record_background
	# The path must carry TCP before anything is measured.
	tg_wait_for 10 "TCP through the $path path" \
		tg_client timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$TG_SERVER_ADDR" "$HTTP_PORT" ||
		{ say "no TCP through the $path path at MTU $mtu"; return 1; }
}

# record_stats STAGE: tungate's counters (`tungate stats --json`) into the raw results.
STATS_FILE=
record_stats() {
	[[ $CUR_PATH == tungate && -n $STATS_FILE ]] || return 0
	local f=$TG_TMP/stats.$((++SEQ)).json
	timeout 10 "$TG_BIN/tungate" stats --json --stats-file "$STATS_FILE" >"$f" 2>/dev/null &&
		record test=stats stage="$1" --json "$f" >/dev/null
	return 0
}

# The CPU the machine spends while this benchmark is idle (other work on the machine makes
# every figure unreliable; the report says so).
record_background() {
	local a b
	a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
	record test=background busy_pct="$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		t = y[2] - x[2]; p = 0; if (t > 0) p = 100 * (y[1] - x[1]) / t; printf "%.1f", p }')" \
		loadavg="$(cut -d' ' -f1 /proc/loadavg)" other_netns="$(ip netns list | grep -cv "^tgbench-$$-")"
}

tungate_alive() { [[ $CUR_PATH != tungate ]] || { tg_gw_alive && [[ -d /proc/${CHILD[stackd]:-0} ]]; }; }

# ---- CPU and memory sampling -----------------------------------------------------------------
# CPU_* ticks: the three children (utime+stime) and the machine (/proc/stat).
cpu_sample() { # PREFIX
	local p=$1 n v cs busy sys
	for n in tunio stackd relayd; do
		v=0 cs=0
		if [[ -n ${CHILD[$n]:-} && -r /proc/${CHILD[$n]}/stat ]]; then
			v=$(sed 's/^.*) //' "/proc/${CHILD[$n]}/stat" | awk '{print $12 + $13}')
			cs=$(awk '/ctxt_switches:/ {s += $2} END {print s + 0}' "/proc/${CHILD[$n]}/status")
		fi
		printf -v "${p}_$n" '%s' "$v"
		printf -v "${p}_cs$n" '%s' "$cs"
	done
	read -r busy sys < <(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $4+$7+$8}' /proc/stat)
	printf -v "${p}_busy" '%s' "$busy"
	printf -v "${p}_sys" '%s' "$sys"
}
cpu_fields() { # the deltas between cpu_sample A and cpu_sample B, as record fields
	local n a b
	for n in tunio stackd relayd busy sys; do
		a=A_$n b=B_$n
		printf 'cpu_%s=%s ' "$n" $((${!b} - ${!a}))
	done
	for n in tunio stackd relayd; do
		a=A_cs$n b=B_cs$n
		printf 'ctxsw_%s=%s ' "$n" $((${!b} - ${!a}))
	done
	printf 'clk_tck=%s children=%s' "$CLK_TCK" "$(children_text | tr ' ' ',')"
}

mem_fields() { # rss_/pss_ fields (kB) of the three children
	local n pid rss pss
	for n in tunio stackd relayd; do
		pid=${CHILD[$n]:-}
		rss=-1 pss=-1
		if [[ -n $pid && -r /proc/$pid/status ]]; then
			rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
			pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
		fi
		printf 'rss_%s=%s pss_%s=%s ' "$n" "${rss:--1}" "$n" "${pss:--1}"
	done
	printf 'children=%s' "$(children_text | tr ' ' ',')"
}

# ---- measurements ----------------------------------------------------------------------------
# iperf TEST REP PORT TIME [iperf3 args]: one iperf3 run from the client namespace.
iperf() {
	local test=$1 rep=$2 port=$3 t=$4
	shift 4
	local f=$TG_TMP/iperf.$((++SEQ)).json rc
	cpu_sample A
	tg_client timeout $((t + 20)) iperf3 -c "$TG_SERVER_ADDR" -p "$port" -t "$t" -J \
		--connect-timeout 5000 "$@" >"$f" 2>"$f.err"
	rc=$?
	cpu_sample B
	record test="$test" rep="$rep" rc="$rc" args="$*" $(cpu_fields) --iperf "$f" ||
		{ bench_error "$CUR_PATH mtu $CUR_MTU $test: $(head -c 300 "$f.err") $(grep -m1 '"error"' "$f")"; rc=1; }
	if ((rc != 0)); then
		restart_iperf_server "$port"
		return 1
	fi
}

tcp_throughput() { # one round of the four TCP throughput figures
	local rep=$1 s d
	for s in 1 8; do
		for d in up down; do
			local -a a=(-P "$s")
			[[ $d == down ]] && a+=(-R)
			iperf "tcp_${s}_$d" "$rep" "$IPERF_TCP_PORT" "$T_TCP" "${a[@]}"
		done
	done
}

udp_tests() {
	local rep len=$((CUR_MTU > 1500 ? 1400 : CUR_MTU - 100))
	if [[ $CUR_PATH == tungate ]]; then
		# Does UDP pass at all? A failure here is "not supported yet", not an error.
		local f=$TG_TMP/udp-probe.json
		if ! tg_client timeout 8 iperf3 -c "$TG_SERVER_ADDR" -p "$IPERF_UDP_PORT" -u -b 10M -l "$len" -t 1 \
			-J --connect-timeout 3000 >"$f" 2>/dev/null ||
			! "$PY" "$REPORT" udp-ok "$f"; then
			say "UDP does not pass through tungate: reported as not supported yet"
			record test=udp_supported value=0
			restart_iperf_server "$IPERF_UDP_PORT"
			return 0
		fi
		record test=udp_supported value=1
	fi
	for ((rep = 1; rep <= REPS; rep++)); do
		iperf udp_200m "$rep" "$IPERF_UDP_PORT" "$T_UDP" -u -b 200M -l "$len"
		iperf udp_max "$rep" "$IPERF_UDP_PORT" "$T_UDP" -u -b 0 -l "$len"
	done
}

wrk_run() { # TEST REP SECONDS wrk-args...
	local test=$1 rep=$2 t=$3
	shift 3
	local f=$TG_TMP/wrk.$((++SEQ)).txt rc
	cpu_sample A
	tg_client timeout $((t + 20)) wrk -d "${t}s" --timeout 5s "$@" \
		"http://$TG_SERVER_ADDR:$HTTP_PORT/" >"$f" 2>&1
	rc=$?
	cpu_sample B
	record test="$test" rep="$rep" rc="$rc" $(cpu_fields) --wrk "$f" ||
		{ bench_error "$CUR_PATH $test: $(head -c 300 "$f")"; return 1; }
}

http_tests() {
	local rep
	for ((rep = 1; rep <= REPS_RR; rep++)); do
		wrk_run rr "$rep" "$T_RR" -t1 -c1 --latency
	done
	for ((rep = 1; rep <= REPS; rep++)); do
		wrk_run cps "$rep" "$T_WRK" -t2 -c64 -H 'Connection: close'
	done
}

HOLD_PIDS=()
HOLD_TOTAL=0
# The hold server's count of open connections (its status file, rewritten atomically).
hold_server_open() {
	local line
	line=$(cat "$TG_TMP/hold-server.json" 2>/dev/null)
	[[ $line =~ \"open\":\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
# Wait until the server holds WANT connections, or its count has not moved for 3 s (at most
# 30 s in all).
wait_server_open() {
	local want=$1 end=$((SECONDS + 30)) last=-1 still=$SECONDS cur
	while ((SECONDS < end)); do
		cur=$(hold_server_open)
		((cur >= want)) && return 0
		if ((cur != last)); then
			last=$cur still=$SECONDS
		elif ((SECONDS - still >= 3)); then
			return 1
		fi
		sleep 0.1
	done
	return 1
}
# hold_open N NAME: N more idle connections from the client namespace to the hold server.
hold_open() {
	local n=$1 name=$2 ready=$TG_TMP/hold-$2.json est
	rm -f "$ready"
	ip netns exec "$TG_NS_CLIENT" "$PY" "$HOLD" hold --connect "$TG_SERVER_ADDR:$HOLD_PORT" --count "$n" \
		--parallel "$HOLD_PARALLEL" --retries 1 --timeout 60 --hold $((TG_E2E_DEADLINE)) --ready "$ready" 2>"$TG_TMP/hold-$name.log" &
	HOLD_PIDS+=("$!")
	TG_PIDS+=("$!")
	tg_wait_for 70 "$n connections opened" test -s "$ready" || { bench_error "holder $name: no report"; return 1; }
	local info
	info=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["established"], d["attempts"], d["errors"] or "no errors")' "$ready")
	est=${info%% *}
	HOLD_TOTAL=$((HOLD_TOTAL + est))
	# The server must have them all too (through tungate: relayd's sockets exist).
	wait_server_open "$HOLD_TOTAL"
	local open
	open=$(hold_server_open)
	info=${info#* }
	say "$CUR_PATH: $name: $est of $n connections open at the client (${info%% *} attempts, ${info#* }), $open open at the server"
	record test=hold name="$name" requested="$n" client_total="$HOLD_TOTAL" server_open="$open" --json "$ready"
}
hold_release() {
	local p
	for p in "${HOLD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${HOLD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	HOLD_PIDS=()
	HOLD_TOTAL=0
	local end=$((SECONDS + 30))
	while ((SECONDS < end)); do
		(($(hold_server_open) == 0)) && return 0
		sleep 0.1
	done
	say "$CUR_PATH: $(hold_server_open) held connections still open at the server 30 s after release"
}

# Memory of the three (tungate only) idle and with idle connections, then one bulk flow with
# CONNS idle connections open, then the same flow alone.
idle_conns_tests() {
	local rep
	[[ $CUR_PATH == tungate ]] && { sleep 1; record test=mem stage=idle conns=0 $(mem_fields); }
	hold_open "$SMALL_CONNS" small || return 1
	[[ $CUR_PATH == tungate ]] && { sleep 1; record test=mem stage=small conns="$HOLD_TOTAL" $(mem_fields); }
	hold_open $((CONNS - SMALL_CONNS)) large || return 1
	[[ $CUR_PATH == tungate ]] && { sleep 1; record test=mem stage=large conns="$HOLD_TOTAL" $(mem_fields); }
	# with / alone interleaved, so that drift on this machine hits both alike
	for ((rep = 1; rep <= REPS; rep++)); do
		((rep > 1)) && { hold_open "$CONNS" "again$rep" || return 1; }
		iperf bulk_with_idle "$rep" "$IPERF_TCP_PORT" "$T_TCP" -P 1
		hold_release
		sleep 1
		iperf bulk_alone "$rep" "$IPERF_TCP_PORT" "$T_TCP" -P 1
	done
}

# System calls of the three during 2 s of a 1-stream upload or download (-R) (perf trace -s), with the
# bytes that upload moved in those seconds' iperf3 interval: calls per MB say where batching is
# missing. perf trace slows the traced processes, so the rate here is lower than unprofiled.
syscall_summary() { # [-R]
	local j=$TG_TMP/trace-iperf.json ip dir=upload
	[[ ${1:-} == -R ]] && dir=download
	echo "## system calls during 2 s of a 1-stream $dir (perf trace -s; slows the traced processes)"
	ip netns exec "$TG_NS_CLIENT" timeout 30 iperf3 -J -i 1 -c "$TG_SERVER_ADDR" -p "$IPERF_TCP_PORT" -t 4 "$@" >"$j" 2>/dev/null &
	ip=$!
	sleep 1
	timeout 20 perf trace -s -p "${CHILD[stackd]},${CHILD[relayd]},${CHILD[tunio]}" -- sleep 2 2>&1 |
		grep -E '^ +[a-z_0-9]+ +[0-9]+ |\(' | grep -vE '^ +syscall +calls'
	wait "$ip"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); iv=d["intervals"][1:3]
print("## bytes moved in those 2 s: %.0f MB" % (sum(i["sum"]["bytes"] for i in iv)/1e6))' "$j" 2>/dev/null
}

profile_stackd() {
	command -v perf >/dev/null || { say "perf not installed: no profile"; return 0; }
	local f=$TG_TMP/perf.data ip
	# The transfer runs first; perf samples 2 s in its middle.
	ip netns exec "$TG_NS_CLIENT" timeout 30 iperf3 -c "$TG_SERVER_ADDR" -p "$IPERF_TCP_PORT" -t 5 >/dev/null 2>&1 &
	ip=$!
	sleep 1
	timeout 20 perf record -F 999 -g -o "$f" -p "${CHILD[stackd]},${CHILD[relayd]},${CHILD[tunio]}" -- sleep 2 \
		>"$TG_TMP/perf.log" 2>&1
	wait "$ip"
	{
		echo "# perf profile (cpu-clock, 999 Hz, 2 s) of tunio, stackd and relayd during a 1-stream TCP upload"
		echo "# through tungate, MTU $CUR_MTU; self time per process, library and symbol:"
		echo "## per process"
		perf report -i "$f" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9.]+%'
		echo "## per process and object (kernel time in a process is its syscalls, and the softirq"
		echo "## work they trigger: tunio's write() to the TUN runs the client kernel's receive path)"
		perf report -i "$f" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | head -15
		echo "## top symbols"
		perf report -i "$f" --no-children --sort comm,dso,symbol --stdio -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | sed 's/ *- *- *$//' | head -40
		syscall_summary
		syscall_summary -R
	} >"$OUT/profile-mtu$CUR_MTU.txt"
	rm -f "$f"
	say "profile written to $OUT/profile-mtu$CUR_MTU.txt"
}

want() { [[ $ONLY == *,$1,* ]]; }

# One whole phase at MTU 1500: everything.
phase_full() { # PATH
	start_phase "$1" 1500 || {
		bench_error "$1 path at MTU 1500 did not come up"
		CUR_PATH=$1 CUR_MTU=1500 record test=phase_failed
		return 1
	}
	if want conns; then
		say "$1 path, MTU 1500: idle connections, memory, bulk flow"
		idle_conns_tests
		record_stats after_idle_conns
	fi
	local rep
	if want tcp; then
		say "$1 path, MTU 1500: TCP throughput"
		for ((rep = 1; rep <= REPS; rep++)); do tcp_throughput "$rep"; done
	fi
	if want udp; then
		say "$1 path, MTU 1500: UDP"
		udp_tests
	fi
	if want http; then
		say "$1 path, MTU 1500: HTTP request/response and connection rate"
		http_tests
	fi
	if [[ $1 == tungate ]]; then
		record test=mem stage=after_load conns=0 $(mem_fields)
		record_stats end
		((PROFILE)) && { mkdir -p "$OUT"; profile_stackd; }
		tungate_alive || bench_error "tungate or a child died during the MTU 1500 phase"
	fi
}

phase_tput() { # PATH MTU
	start_phase "$1" "$2" || { CUR_PATH=$1 CUR_MTU=$2 record test=phase_failed; return 1; }
	say "$1 path, MTU $2: TCP throughput"
	local rep
	for ((rep = 1; rep <= REPS; rep++)); do tcp_throughput "$rep"; done
	if [[ $1 == tungate ]]; then
		record_stats end
		((PROFILE)) && { mkdir -p "$OUT"; profile_stackd; }
		tungate_alive || bench_error "tungate or a child died during the MTU $2 phase"
	fi
	return 0
}

# tungate at a large MTU: the first of LARGE_MTUS that comes up and carries a short iperf3.
pick_large_mtu() {
	local m
	for m in "${LARGE_MTUS[@]}"; do
		if start_phase tungate "$m" &&
			tg_client timeout 15 iperf3 -c "$TG_SERVER_ADDR" -p "$IPERF_TCP_PORT" -t 1 >/dev/null 2>&1 &&
			tg_client timeout 15 iperf3 -c "$TG_SERVER_ADDR" -p "$IPERF_TCP_PORT" -t 1 -R >/dev/null 2>&1; then
			echo "$m"
			return 0
		fi
		say "tungate does not work at MTU $m"
		restart_iperf_server "$IPERF_TCP_PORT"
	done
	return 1
}

# ---- the run ---------------------------------------------------------------------------------
"$PY" "$REPORT" meta "$TG_TMP/meta.json" quick="$QUICK" reps="$REPS" t_tcp="$T_TCP" t_udp="$T_UDP" \
	t_wrk="$T_WRK" reps_rr="$REPS_RR" t_rr="$T_RR" conns="$CONNS" small_conns="$SMALL_CONNS" bin_dir="${BIN_DIR:-none}" \
	kernel_only="$KERNEL_ONLY" build_note="$TG_BUILD_NOTE" bin_dir_jumbo="${BIN_DIR_JUMBO:-none}" \
	jumbo_tcp_mss="$JUMBO_MSS" git="$GIT_DESC"

phase_full kernel
LARGE_MTU=${LARGE_MTUS[0]}
if ((KERNEL_ONLY == 0)); then
	phase_full tungate
	if ! want tcp; then
		:
	elif m=$(pick_large_mtu); then
		LARGE_MTU=$m
		say "large MTU: $LARGE_MTU"
		phase_tput tungate "$LARGE_MTU" || bench_error "tungate at MTU $LARGE_MTU"
	else
		bench_error "tungate works at none of the large MTUs ${LARGE_MTUS[*]}"
		CUR_PATH=tungate CUR_MTU=${LARGE_MTUS[0]} record test=phase_failed
	fi
fi
if want tcp; then
	phase_tput kernel "$LARGE_MTU" || bench_error "kernel path at MTU $LARGE_MTU"
fi
stop_phase

"$PY" "$REPORT" meta "$TG_TMP/meta.json" large_mtu="$LARGE_MTU" errors="$ERRORS" \
	runtime_s=$((SECONDS - RUN_T0))
mkdir -p "$OUT"
cp "$TG_LOG" "$OUT/latest-tungate.log" 2>/dev/null
"$PY" "$REPORT" report "$RAW" "$TG_TMP/meta.json" "$OUT" || bench_error "report failed"
say "done in $((SECONDS - RUN_T0)) s, $ERRORS error(s)"
((ERRORS == 0))
