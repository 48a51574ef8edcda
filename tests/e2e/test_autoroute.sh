#!/usr/bin/env bash
# shellcheck disable=SC2015 # tg_pass always succeeds: A && pass || fail is if-then-else here
# End-to-end: auto-route and relayd's outbound mark / bind_interface (docs/routing.md).
# Here tungate and its TUN live in the SAME namespace, the "host" (lib.sh's gateway namespace,
# no --netns), whose normal default route is a veth to the server namespace:
#
#   host ns: tungate, TUN tgarPID 198.18.0.1/24 (+ 2001:db8:7::1/64)      server ns
#            veth-srv 198.18.1.1/24, 2001:db8:1::1/64  <------------>  veth-gw 198.18.1.2/24,
#            default via 198.18.1.2 (v4 and v6)                         2001:db8:1::2/64; lo:
#                                                                       198.18.5.2, 2001:db8:5::2
# The server is reached at 198.18.5.2 / 2001:db8:5::2, through the default route only.
# (a) auto-route = default: the host's own curl (IPv4 and IPv6) goes through tungate (its
#     counters move by exactly one flow each: relayd's marked sockets do not loop into the TUN),
#     the rules and table are there, excluded addresses and connected routes bypass the TUN,
#     relayd holds CAP_NET_RAW and nothing else; SIGTERM restores routes and rules exactly
# (b) SIGKILL of tungate leaves routes, rules and the state file; the next start removes them
#     first, and its clean stop restores the original state exactly
# (c) issue #5 without auto-route: default route into the TUN, relay.mark with a rule the test
#     sets up; then relay.bind_interface with a second default route: curl works, one flow each
# (d) auto-route = prefixes with a SOCKS5 upstream: only the prefixes go to the TUN, the proxy
#     is excluded by a throw route, and everything is removed at the stop
# (e) --netns (lib.sh's usual topology): routes and rules in the client namespace, removed at
#     the stop by a tungate that has no CAP_SYS_ADMIN left
#
# Usage: test_autoroute.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root, kernel path).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	echo "SKIP: the kernel path has no auto-route"
	exit 77
fi

export TG_E2E_DEADLINE=${TG_E2E_DEADLINE:-120}
tg_init tgar "$$"
tg_topology

HOST=$TG_NS_GW
TUN=tgar$$
TUN=${TUN:0:15}
FAR4=198.18.5.2
FAR6=2001:db8:5::2
EXCL4=198.18.5.3
SIZE=1048576
BIN=$(tg_bin_dir)
ROUTES_FILE=/run/tungate/$TUN.routes
TG_STATS_FILE=$TG_TMP/tungate.stats
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 5 --max-time 20)

# ---- topology: the host's default route is the veth, the server's far addresses on its lo ----
ip -n "$TG_NS_SERVER" addr add "$FAR4/32" dev lo
ip -n "$TG_NS_SERVER" addr add "$EXCL4/32" dev lo
ip -n "$TG_NS_SERVER" -6 addr add "$FAR6/128" dev lo
ip -n "$HOST" -6 addr add 2001:db8:1::1/64 dev veth-srv nodad
ip -n "$TG_NS_SERVER" -6 addr add 2001:db8:1::2/64 dev veth-gw nodad
ip -n "$HOST" route add default via "$TG_SERVER_ADDR" || fail "host default route"
ip -n "$HOST" -6 route add default via 2001:db8:1::2 || fail "host IPv6 default route"

mkdir -p "$TG_TMP/www"
head -c "$SIZE" /dev/urandom >"$TG_TMP/www/blob"
want=$(sha256sum <"$TG_TMP/www/blob" | cut -d' ' -f1)
tg_start_httpd_at "$FAR4" httpd4
tg_start_httpd_at "$FAR6" httpd6
tg_start_httpd_at "$EXCL4" httpd_excl

host() { ip netns exec "$HOST" "$@"; }

# Everything auto-route may touch, in the host namespace (or in namespace $1).
snapshot() {
	local ns=${1:-$HOST}
	{
		echo "== ip -4 rule"
		ip -n "$ns" -4 rule show
		echo "== ip -6 rule"
		ip -n "$ns" -6 rule show
		echo "== ip -4 route table all"
		ip -n "$ns" -4 route show table all
		echo "== ip -6 route table all"
		ip -n "$ns" -6 route show table all
	} 2>&1 | grep -v 'fe80::' # link-local routes come and go with DAD, and are not ours
}

# GET the blob from the host itself; prints OK when it arrived byte-exact.
host_get() {
	local got
	got=$(host "${CURL[@]}" -g "http://$1:$TG_HTTP_PORT/blob" | sha256sum | cut -d' ' -f1)
	[[ $got == "$want" ]] && echo OK
}

tun_up() {
	ip -n "$HOST" link show dev "$TUN" 2>/dev/null | grep -q 'LOWER_UP'
}

# tungate in the host namespace, its TUN there too (no --netns).
start_tg() {
	rm -f "$TG_STATS_FILE"
	tg_say "starting (in $HOST): tungate --tun-name $TUN $*"
	ip netns exec "$HOST" "$BIN/tungate" --tun-name "$TUN" --tun-address "$TG_CLIENT_PREFIX" \
		--stats-file "$TG_STATS_FILE" "$@" </dev/null >>"$TG_LOG" 2>&1 &
	TG_GW_PID=$!
	tg_wait_for 20 "TUN $TUN up" tun_up || fail "TUN $TUN did not come up"
	tg_wait_for 10 "relayd" tg_gw_child relayd || fail "relayd did not start"
	ip -n "$HOST" -6 addr add 2001:db8:7::1/64 dev "$TUN" nodad 2>/dev/null
	sleep 0.3 # the children say READY right after their sandbox; let them settle
}

stop_tg() { # expects exit status 0 within 10 s
	local pid=$TG_GW_PID rc
	TG_GW_PID=
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	[[ $rc == 0 ]] && tg_pass "$1: SIGTERM, exit 0" || tg_fail_check "$1: SIGTERM, exit $rc"
}

same_as_before() { # LABEL [NS BEFORE_FILE]
	local before=${3:-$TG_TMP/before}
	snapshot "${2:-$HOST}" >"$TG_TMP/after"
	if diff -u "$before" "$TG_TMP/after" >"$TG_TMP/diff"; then
		tg_pass "$1: routes and rules exactly as before ($(wc -l <"$before") lines compared)"
	else
		tg_fail_check "$1: routes or rules differ from before:"
		cat "$TG_TMP/diff"
	fi
}

# Route lookup in the host: the device a packet to $1 (with mark $2, optional) would leave by.
route_dev() {
	local -a mark=()
	[[ -n ${2:-} ]] && mark=(mark "$2")
	ip -n "$HOST" route get "$1" "${mark[@]}" 2>/dev/null | grep -o 'dev [^ ]*' | head -1 | cut -d' ' -f2
}

# relayd publishes its counters once a second: wait for NAME to reach WANT, then make sure it
# stays there a while (a loop would keep adding flows). Prints the last value seen.
stat_settles() {
	local name=$1 want=$2 v i
	for ((i = 0; i < 30; i++)); do
		v=$(tg_stat relayd "$name")
		[[ $v == "$want" ]] && break
		sleep 0.1
	done
	[[ $v == "$want" ]] && sleep 1.2 && v=$(tg_stat relayd "$name")
	echo "$v"
}

cap_eff() { awk '/^CapEff:/ {print $2}' "/proc/$1/status"; }

check_eq() { # WHAT GOT WANT
	if [[ $2 == "$3" ]]; then tg_pass "$1: $2"; else tg_fail_check "$1: $2, expected $3"; fi
}

snapshot >"$TG_TMP/before"
[[ $(route_dev $FAR4) == veth-srv ]] || fail "baseline: $FAR4 is not routed by the veth"
[[ $(host_get $FAR4) == OK ]] || fail "baseline: the host cannot fetch from $FAR4 directly"

# ---- (a) auto-route = default ------------------------------------------------------------
tg_say "(a) auto-route = default"
start_tg --auto-route default --route-exclude "$EXCL4"
rules4=$(ip -n "$HOST" -4 rule show)
rules6=$(ip -n "$HOST" -6 rule show)
grep -q '^7474:.*lookup main suppress_prefixlength 0' <<<"$rules4" &&
	grep -q '^7475:.*not from all fwmark 0x7474 lookup 7474' <<<"$rules4" &&
	grep -q '^7475:.*not from all fwmark 0x7474 lookup 7474' <<<"$rules6" &&
	tg_pass "rules: suppress_prefixlength 0 and not fwmark 0x7474 lookup 7474 (IPv4 and IPv6)" ||
	tg_fail_check "rules missing: $rules4 / $rules6"
t4=$(ip -n "$HOST" -4 route show table 7474)
t6=$(ip -n "$HOST" -6 route show table 7474)
grep -q "^default dev $TUN" <<<"$t4" && grep -q "^throw $EXCL4" <<<"$t4" &&
	grep -q "^default dev $TUN" <<<"$t6" &&
	tg_pass "table 7474: default dev $TUN (IPv4, IPv6), throw $EXCL4" ||
	tg_fail_check "table 7474: $t4 / $t6"
[[ -s $ROUTES_FILE ]] && tg_pass "state file $ROUTES_FILE: $(grep -vc '^#' "$ROUTES_FILE") items" ||
	tg_fail_check "no state file $ROUTES_FILE"
check_eq "route to $FAR4, unmarked" "$(route_dev $FAR4)" "$TUN"
check_eq "route to $FAR4, mark 0x7474 (relayd)" "$(route_dev $FAR4 0x7474)" veth-srv
check_eq "route to excluded $EXCL4" "$(route_dev $EXCL4)" veth-srv
check_eq "route to $TG_SERVER_ADDR (connected)" "$(route_dev $TG_SERVER_ADDR)" veth-srv

relayd=$(tg_gw_child relayd)
check_eq "relayd CapEff (CAP_NET_RAW only, for SO_MARK)" "$(cap_eff "$relayd")" 0000000000002000
grep -q '^Seccomp:[[:space:]]*2' "/proc/$relayd/status" && tg_pass "relayd still under seccomp" ||
	tg_fail_check "relayd without seccomp"
tgcap=$(cap_eff "$TG_GW_PID")
(((16#$tgcap & 0x1000) != 0)) && (((16#$tgcap & 0x200000) == 0)) &&
	tg_pass "tungate keeps CAP_NET_ADMIN for the removal, not CAP_SYS_ADMIN ($tgcap)" ||
	tg_fail_check "tungate CapEff $tgcap"

flows0=$(tg_stat relayd tcp_flows_total) || fail "no counters"
check_eq "host's own GET of $FAR4 through tungate" "$(host_get $FAR4)" OK
check_eq "relayd TCP flows after it (one: no loop)" "$(stat_settles tcp_flows_total $((flows0 + 1)))" $((flows0 + 1))
bytes=$(tg_stat relayd tcp_bytes_down)
((bytes >= SIZE)) && tg_pass "relayd carried $bytes bytes down" || tg_fail_check "relayd carried $bytes bytes"
check_eq "host's own GET of [$FAR6] through tungate" "$(host_get "[$FAR6]")" OK
check_eq "relayd TCP flows after it" "$(stat_settles tcp_flows_total $((flows0 + 2)))" $((flows0 + 2))
check_eq "GET of excluded $EXCL4 (direct)" "$(host_get $EXCL4)" OK
check_eq "relayd TCP flows after it (unchanged)" "$(stat_settles tcp_flows_total $((flows0 + 2)))" $((flows0 + 2))
tg_check_children_stable
stop_tg "(a)"
same_as_before "(a) after SIGTERM"
[[ ! -e $ROUTES_FILE ]] && tg_pass "state file removed" || tg_fail_check "state file left: $ROUTES_FILE"

# ---- (b) SIGKILL, then the next start cleans up --------------------------------------------
tg_say "(b) SIGKILL of tungate, leftovers, next start"
start_tg --auto-route default --route-exclude "$EXCL4"
kill -KILL "$TG_GW_PID"
wait "$TG_GW_PID" 2>/dev/null
TG_GW_PID=
tg_wait_for 5 "TUN gone" bash -c "! ip -n $HOST link show dev $TUN" || tg_fail_check "TUN left after SIGKILL"
left_rules=$(ip -n "$HOST" -4 rule show 2>&1)
if [[ $left_rules == *'lookup 7474'* && -s $ROUTES_FILE ]]; then
	tg_pass "after SIGKILL the rules and the state file are left over (as expected)"
else
	tg_fail_check "after SIGKILL: no leftovers to test the cleanup with"
	printf '    rules: %s\n' "$left_rules"
	ls -l "$ROUTES_FILE" 2>&1 | sed 's/^/    /'
fi
start_tg --auto-route default --route-exclude "$EXCL4"
grep -q "auto-route: $ROUTES_FILE is left from a tungate" "$TG_LOG" &&
	tg_pass "the next start found and removed the leftovers" ||
	tg_fail_check "no leftover removal in the log"
check_eq "IPv4 rules to table 7474 (once, not twice)" "$(ip -n "$HOST" -4 rule show | grep -c 'lookup 7474')" 1
check_eq "host's GET of $FAR4 after the restart" "$(host_get $FAR4)" OK
stop_tg "(b)"
same_as_before "(b) after the clean stop"

# ---- (c) issue #5: the host's default route is the TUN, mark or bind_interface ------------
tg_say "(c) default route into the TUN, relay.mark 0x99 and a rule set up by hand"
start_tg --mark 0x99
ip -n "$HOST" route add default via "$TG_SERVER_ADDR" table 99
ip -n "$HOST" rule add fwmark 0x99 lookup 99 pref 99
ip -n "$HOST" route replace default dev "$TUN"
check_eq "route to $FAR4" "$(route_dev $FAR4)" "$TUN"
flows0=$(tg_stat relayd tcp_flows_total) || fail "no counters"
check_eq "(mark) host's GET of $FAR4" "$(host_get $FAR4)" OK
check_eq "(mark) relayd TCP flows (one: no loop)" "$(stat_settles tcp_flows_total $((flows0 + 1)))" $((flows0 + 1))
ip -n "$HOST" rule del fwmark 0x99 lookup 99 pref 99
ip -n "$HOST" route del default table 99
stop_tg "(c) mark"

tg_say "(c) relay.bind_interface veth-srv, two default routes (TUN first)"
start_tg --bind-interface veth-srv
ip -n "$HOST" route del default 2>/dev/null # gone with the previous TUN already
ip -n "$HOST" route add default dev "$TUN" metric 10
ip -n "$HOST" route add default via "$TG_SERVER_ADDR" dev veth-srv metric 100
check_eq "route to $FAR4" "$(route_dev $FAR4)" "$TUN"
check_eq "relayd CapEff (bind_interface needs none)" "$(cap_eff "$(tg_gw_child relayd)")" 0000000000000000
flows0=$(tg_stat relayd tcp_flows_total) || fail "no counters"
check_eq "(bind_interface) host's GET of $FAR4" "$(host_get $FAR4)" OK
check_eq "(bind_interface) relayd TCP flows (one: no loop)" "$(stat_settles tcp_flows_total $((flows0 + 1)))" $((flows0 + 1))
stop_tg "(c) bind_interface"
ip -n "$HOST" route del default 2>/dev/null
ip -n "$HOST" route replace default via "$TG_SERVER_ADDR"
same_as_before "(c) after putting the default route back"

# ---- (d) auto-route = prefixes, SOCKS5 server excluded -------------------------------------
tg_say "(d) auto-route = prefixes with a SOCKS5 upstream"
start_tg --auto-route prefixes --route-prefixes "198.18.5.0/24, 2001:db8:5::/48" \
	--upstream socks5 --socks5-server "$TG_SERVER_ADDR:1080"
t4=$(ip -n "$HOST" -4 route show table 7474)
grep -q "^198.18.5.0/24 dev $TUN" <<<"$t4" && grep -q "^throw $TG_SERVER_ADDR" <<<"$t4" &&
	tg_pass "table 7474: 198.18.5.0/24 dev $TUN, throw $TG_SERVER_ADDR (the proxy)" ||
	tg_fail_check "table 7474: $t4"
ip -n "$HOST" -4 rule show | grep -q suppress_prefixlength &&
	tg_fail_check "a suppress rule with auto = prefixes" ||
	tg_pass "no suppress rule with auto = prefixes"
check_eq "route to $FAR4" "$(route_dev $FAR4)" "$TUN"
check_eq "route to the proxy $TG_SERVER_ADDR" "$(route_dev $TG_SERVER_ADDR)" veth-srv
check_eq "route to 2001:db8:5::9" "$(route_dev 2001:db8:5::9)" "$TUN"
stop_tg "(d)"
same_as_before "(d) after SIGTERM"

# ---- (e) --netns: tungate in the gateway namespace, TUN and routes in the client's ---------
tg_say "(e) --netns: auto-route in the client namespace, relayd in the gateway namespace"
snapshot "$TG_NS_CLIENT" >"$TG_TMP/before_client"
rm -f "$TG_STATS_FILE"
tg_start_gateway --auto-route default --stats-file "$TG_STATS_FILE"
[[ -s /run/tungate/$TG_NS_CLIENT-tg0.routes ]] && tg_pass "state file $TG_NS_CLIENT-tg0.routes" ||
	tg_fail_check "no state file /run/tungate/$TG_NS_CLIENT-tg0.routes"
dev=$(ip -n "$TG_NS_CLIENT" route get "$FAR4" | grep -o 'dev [^ ]*' | cut -d' ' -f2)
check_eq "client's route to $FAR4 (table 7474)" "$dev" "$TG_TUN"
got=$(tg_client "${CURL[@]}" "http://$FAR4:$TG_HTTP_PORT/blob" | sha256sum | cut -d' ' -f1)
check_eq "client's GET of $FAR4" "$([[ $got == "$want" ]] && echo OK)" OK
check_eq "relayd TCP flows" "$(stat_settles tcp_flows_total 1)" 1
tgcap=$(cap_eff "$TG_GW_PID")
(((16#$tgcap & 0x1000) != 0)) && (((16#$tgcap & 0x200000) == 0)) &&
	tg_pass "tungate: CAP_NET_ADMIN, no CAP_SYS_ADMIN ($tgcap): removal needs no setns" ||
	tg_fail_check "tungate CapEff $tgcap"
stop_tg "(e)"
same_as_before "(e) client namespace after SIGTERM" "$TG_NS_CLIENT" "$TG_TMP/before_client"
[[ ! -e /run/tungate/$TG_NS_CLIENT-tg0.routes ]] && tg_pass "(e) state file removed" ||
	tg_fail_check "(e) state file left"

if ((TG_FAILED > 0)); then
	tg_show_log 80
	echo "$TG_FAILED check(s) failed"
	exit 1
fi
echo "all checks passed"
