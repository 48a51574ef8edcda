#!/usr/bin/env bash
# shellcheck disable=SC2119 # tg_start_httpd takes no arguments here
# End-to-end: privilege separation and sandboxes hold (docs/security.md).
#   (a) a normal run relays a download byte-exact, sandboxed
#   (b) seen from outside, each child: its own user (privsep defaults), no groups, CapEff and
#       CapPrm 0, NoNewPrivs 1, Seccomp 2 (filter), root and cwd the empty chroot, limits
#       (NOFILE, CORE 0, NPROC 0); tungate: no CAP_NET_ADMIN or CAP_SYS_ADMIN left, in the
#       bounding set either, NoNewPrivs 1
#   (c) each child, told to (hidden flag --test-forbidden CHILD:CALL, tests only), attempts a
#       forbidden call right after its sandbox is applied: it must be killed by SIGSYS or the
#       call must fail with EPERM; a child that survived (EPERM) still relays a download
#   (d) configuration: a missing user is exit 2 naming the key; "root" runs a child as root
#       but still without capabilities and under seccomp; an unsafe chroot is refused
#   (e) SIGKILL to tungate: no child outlives it
#
# Usage: test_sandbox.sh [BIN_DIR]   (or TG_BIN_DIR=...). Exit: 0, 1 (a check failed), 77.
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1
# The chroot is checked here: no LeakSanitizer in the children (it needs /proc, lib.sh).
export TG_SANITIZER_LEAK_CHECK=0

if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	echo "SKIP: test_sandbox checks tungate's processes; there are none on the kernel path"
	exit 77
fi

URL=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10 --max-time 60)
FILE_MB=4
CHILDREN=(tunio stackd relayd)
CHROOT=/run/tungate/empty
# CHILD:CALL pairs for (c); relayd may open IPv4/IPv6 sockets, so it gets unix and netlink.
FORBIDDEN=(
	tunio:open tunio:socket tunio:exec tunio:setuid
	stackd:open stackd:socket stackd:exec stackd:unix
	relayd:open relayd:unix relayd:netlink relayd:exec
)

tg_init tge2e "$$"
tg_topology
tg_start_httpd

for c in "${CHILDREN[@]}"; do
	getent passwd "_tungate-$c" >/dev/null ||
		fail "user _tungate-$c is missing: run scripts/install-deps.sh"
done

"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 7 >"$TG_TMP/www/file.bin"
WANT=$(sha256sum <"$TG_TMP/www/file.bin" | cut -d' ' -f1)

# download WHAT: the file through the gateway, byte-exact
download() {
	local got
	got=$(tg_client "${CURL[@]}" "$URL/file.bin" | sha256sum | cut -d' ' -f1)
	if [[ $got == "$WANT" ]]; then
		tg_pass "$1: $FILE_MB MB download byte-exact"
	else
		tg_fail_check "$1: download: sha256 '${got}', want '$WANT'"
	fi
}

# status_field PID KEY: the value of "KEY:" in /proc/PID/status, tabs as spaces
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }

# limit PID NAME: soft and hard values of /proc/PID/limits' line NAME ("Max open files")
limit() { awk -v n="$2" 'index($0, n) == 1 { s = substr($0, 27); split(s, a, " +"); print a[1], a[2] }' "/proc/$1/limits"; }

# ---- (a) and (b): a normal, sandboxed run -------------------------------------------------
tg_start_gateway --log-level info
download "(a) sandboxed gateway"

check_child() {
	local c=$1 pid uid gid want_uid want_gid bad=() v nofile hard
	pid=$(tg_gw_child "$c")
	[[ -n $pid ]] || { tg_fail_check "(b) $c: not running"; return; }
	want_uid=$(id -u "_tungate-$c")
	want_gid=$(id -g "_tungate-$c")
	uid=$(status_field "$pid" Uid)
	gid=$(status_field "$pid" Gid)
	[[ $uid == "$want_uid $want_uid $want_uid $want_uid" ]] || bad+=("Uid '$uid' (want $want_uid x4)")
	[[ $gid == "$want_gid $want_gid $want_gid $want_gid" ]] || bad+=("Gid '$gid' (want $want_gid x4)")
	v=$(status_field "$pid" Groups)
	[[ -z $v ]] || bad+=("Groups '$v'")
	for k in CapEff CapPrm CapInh CapAmb; do
		v=$(status_field "$pid" $k)
		[[ $v == 0000000000000000 ]] || bad+=("$k $v")
	done
	v=$(status_field "$pid" NoNewPrivs)
	[[ $v == 1 ]] || bad+=("NoNewPrivs '$v'")
	v=$(status_field "$pid" Seccomp)
	[[ $v == 2 ]] || bad+=("Seccomp '$v' (want 2, filter)")
	v=$(readlink "/proc/$pid/root")
	[[ $v == "$CHROOT" ]] || bad+=("root '$v' (want $CHROOT)")
	v=$(readlink "/proc/$pid/cwd")
	[[ $v == "$CHROOT" ]] || bad+=("cwd '$v' (want $CHROOT)")
	nofile=64
	if [[ $c == relayd ]]; then
		# 65536, or tungate's own hard limit where it may not raise it (no CAP_SYS_RESOURCE)
		hard=$(limit "$TG_GW_PID" "Max open files" | awk '{print $2}')
		nofile=65536
		[[ $hard != unlimited ]] && ((hard < nofile)) && nofile=$hard
	fi
	v=$(limit "$pid" "Max open files")
	[[ $v == "$nofile $nofile" ]] || bad+=("open files '$v' (want $nofile)")
	v=$(limit "$pid" "Max core file size")
	[[ $v == "0 0" ]] || bad+=("core file size '$v'")
	v=$(limit "$pid" "Max processes")
	[[ $v == "0 0" ]] || bad+=("processes '$v'")
	if ((${#bad[@]} == 0)); then
		tg_pass "(b) $c (pid $pid): uid/gid $want_uid/$want_gid, no groups, no capabilities, NoNewPrivs 1, Seccomp 2, root and cwd $CHROOT, $nofile fds, no core, no processes"
	else
		tg_fail_check "(b) $c (pid $pid): $(printf '%s; ' "${bad[@]}")"
	fi
}
for c in "${CHILDREN[@]}"; do check_child "$c"; done

check_supervisor() {
	local pid=$TG_GW_PID eff bnd nnp uid bad=()
	eff=$(status_field "$pid" CapEff)
	bnd=$(status_field "$pid" CapBnd)
	nnp=$(status_field "$pid" NoNewPrivs)
	uid=$(status_field "$pid" Uid)
	# CAP_NET_ADMIN is bit 12, CAP_SYS_ADMIN bit 21
	(((0x$eff & 0x201000) == 0)) || bad+=("CapEff $eff still has CAP_NET_ADMIN or CAP_SYS_ADMIN")
	(((0x$bnd & 0x201000) == 0)) || bad+=("CapBnd $bnd still has CAP_NET_ADMIN or CAP_SYS_ADMIN")
	# CAP_KILL (bit 5): it signals children that run as other users
	(((0x$eff & 0x20) != 0)) || bad+=("CapEff $eff lost CAP_KILL")
	[[ $nnp == 1 ]] || bad+=("NoNewPrivs '$nnp'")
	if ((${#bad[@]} == 0)); then
		tg_pass "(b) tungate (pid $pid, uid ${uid%% *}): CapEff $eff, CapBnd $bnd (no CAP_NET_ADMIN, no CAP_SYS_ADMIN), NoNewPrivs 1"
	else
		tg_fail_check "(b) tungate: $(printf '%s; ' "${bad[@]}")"
	fi
}
check_supervisor
tg_check_clean_stop

# ---- (c): forbidden calls -----------------------------------------------------------------

# start_tungate LOG ARGS...: tungate as tg_start_gateway starts it, without failing the test
# if it stops by itself (a child killed at every start makes tungate give up).
start_tungate() {
	local log=$1
	shift
	TG_LOG=$log
	ip netns exec "$TG_NS_GW" "$(tg_bin_dir)/tungate" --netns "$TG_NS_CLIENT" \
		--tun-address "$TG_CLIENT_PREFIX" --log-level info "$@" </dev/null >"$log" 2>&1 &
	TG_GW_PID=$!
}

# outcome LOG CHILD CALL: "sigsys", "eperm", or what else happened, once the log says
outcome() {
	local log=$1 c=$2 call=$3
	[[ -f $log ]] || return 1
	grep -qE "^$c\[[0-9]+\]: warning: test: attempting forbidden $call\(\)" "$log" || return 1
	if grep -qE "^tungate\[[0-9]+\]: warning: $c \(pid [0-9]+\) killed by signal [0-9]+ \(SIGSYS\)" "$log"; then
		echo sigsys
	elif grep -qE "^$c\[[0-9]+\]: warning: test: forbidden $call\(\) failed: Operation not permitted$" "$log"; then
		echo eperm
	elif grep -qE "^$c\[[0-9]+\]: warning: test: forbidden $call\(\) (failed|succeeded)" "$log"; then
		grep -m1 -E "^$c\[[0-9]+\]: warning: test: forbidden $call\(\)" "$log"
	else
		return 1
	fi
}

check_forbidden() {
	local c=${1%%:*} call=${1#*:} log=$TG_TMP/forbidden-${1/:/-}.log res=
	start_tungate "$log" --test-forbidden "$1"
	for ((i = 0; i < 150; i++)); do
		res=$(outcome "$log" "$c" "$call") && break
		res=
		tg_gw_alive || break
		sleep 0.1
	done
	[[ -z $res ]] && res=$(outcome "$log" "$c" "$call")
	case $res in
	sigsys) tg_pass "(c) $c: forbidden $call() killed it with SIGSYS" ;;
	eperm)
		tg_pass "(c) $c: forbidden $call() failed with EPERM"
		# It goes on running: still a working gateway.
		if tg_wait_for 10 "TUN up" tg_find_tun; then
			ip -n "$TG_NS_CLIENT" route replace "$TG_SERVER_NET" dev "$(tg_find_tun)"
			download "(c) $c after its forbidden $call()"
		else
			tg_fail_check "(c) $c: no TUN after the forbidden $call()"
		fi
		;;
	"") tg_fail_check "(c) $c: no outcome of forbidden $call() within 15 s"; tg_show_log 30 ;;
	*) tg_fail_check "(c) $c: forbidden $call(): $res" ;;
	esac
	tg_stop_gateway
}
for f in "${FORBIDDEN[@]}"; do check_forbidden "$f"; done

# ---- (d): configuration ------------------------------------------------------------------
check_missing_user() {
	local out rc
	out=$("$(tg_bin_dir)/tungate" -n --stackd-user _tungate-no-such-user 2>&1)
	rc=$?
	if ((rc == 2)) && [[ $out == *"[privsep] stackd_user: no such user \"_tungate-no-such-user\""* ]]; then
		tg_pass "(d) missing user: exit 2, \"$out\""
	else
		tg_fail_check "(d) missing user: exit $rc, \"$out\" (want exit 2 naming [privsep] stackd_user)"
	fi
}
check_missing_user

check_root_user() {
	local pid uid eff sc
	start_tungate "$TG_TMP/root-user.log" --stackd-user root
	if ! tg_wait_for 15 "TUN up" tg_find_tun || ! tg_wait_for 5 "stackd" tg_gw_child stackd; then
		tg_fail_check "(d) --stackd-user root: gateway did not start"
		tg_show_log 30
		tg_stop_gateway
		return
	fi
	sleep 0.5 # past its setup
	ip -n "$TG_NS_CLIENT" route replace "$TG_SERVER_NET" dev "$(tg_find_tun)"
	pid=$(tg_gw_child stackd)
	uid=$(status_field "$pid" Uid)
	eff=$(status_field "$pid" CapEff)
	sc=$(status_field "$pid" Seccomp)
	if [[ $uid == "0 0 0 0" && $eff == 0000000000000000 && $sc == 2 ]] &&
		grep -q 'stackd runs as root' "$TG_LOG"; then
		tg_pass "(d) --stackd-user root: warned; stackd uid 0 but CapEff 0, Seccomp 2"
	else
		tg_fail_check "(d) --stackd-user root: Uid '$uid', CapEff $eff, Seccomp $sc, warning $(grep -c 'runs as root' "$TG_LOG")"
	fi
	download "(d) --stackd-user root"
	tg_stop_gateway
}
check_root_user

check_unsafe_chroot() {
	local rc
	start_tungate "$TG_TMP/chroot.log" --chroot /tmp
	for ((i = 0; i < 100; i++)); do
		tg_gw_alive || break
		sleep 0.1
	done
	if tg_gw_alive; then
		tg_fail_check "(d) --chroot /tmp (world-writable): tungate still running"
		tg_stop_gateway
		return
	fi
	wait "$TG_GW_PID"
	rc=$?
	TG_GW_PID=
	if ((rc != 0)) && grep -q 'chroot /tmp: must be owned by root and writable by no one else' "$TG_LOG"; then
		tg_pass "(d) --chroot /tmp refused (exit $rc): $(grep -m1 'chroot /tmp' "$TG_LOG")"
	else
		tg_fail_check "(d) --chroot /tmp: exit $rc, log: $(tail -n 3 "$TG_LOG")"
	fi
}
check_unsafe_chroot

# ---- (e): no child outlives tungate ---------------------------------------------------------
# running PID: alive and not a zombie (orphans wait for their new parent to reap them)
running() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

check_orphans() {
	local pids=() left p
	start_tungate "$TG_TMP/orphans.log"
	tg_wait_for 15 "TUN up" tg_find_tun || { tg_fail_check "(e) gateway did not start"; return; }
	for c in "${CHILDREN[@]}"; do
		tg_wait_for 5 "$c" tg_gw_child "$c"
		pids+=("$(tg_gw_child "$c")")
	done
	sleep 0.5 # all of them past their setup
	kill -KILL "$TG_GW_PID"
	wait "$TG_GW_PID" 2>/dev/null
	TG_GW_PID=
	rm -f "/run/tungate/$TG_NS_CLIENT-tg0.stats" # a killed tungate cannot remove its counters
	for ((i = 0; i < 30; i++)); do
		left=()
		for p in "${pids[@]}"; do [[ -n $p ]] && running "$p" && left+=("$p"); done
		((${#left[@]} == 0)) && break
		sleep 0.1
	done
	if ((${#pids[@]} == 3 && ${#left[@]} == 0)); then
		tg_pass "(e) SIGKILL to tungate: tunio, stackd and relayd (${pids[*]}) gone within $((i / 10)).$((i % 10)) s"
	else
		tg_fail_check "(e) SIGKILL to tungate: still running: ${left[*]:-?} (children ${pids[*]})"
	fi
}
check_orphans

if ((TG_FAILED > 0)); then
	echo "test_sandbox: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_sandbox: all checks passed"
exit 0
