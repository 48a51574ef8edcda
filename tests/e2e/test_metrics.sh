#!/usr/bin/env bash
# End-to-end: tungate's Prometheus endpoint ([metrics] listen, tungate/metrics.c).
#   tungate runs in the gateway namespace with --metrics-listen 127.0.0.1:9474 (that
#   namespace's own loopback); curl scrapes it there.
# (a) GET /metrics: 200, Content-Type text/plain; version=0.0.4, a # HELP and a # TYPE line
#     for every family, and the families of the issue: flows by protocol, drops by reason,
#     ring occupancy, restarts, every process's counters
# (b) 3 HTTP transfers of 1 MB through the gateway: tcp flows total grows by >= 3, stackd's
#     bytes_out and tunio's tx_bytes by >= 3 MB (the counters move with the traffic)
# (c) SIGKILL of stackd: tungate_child_restarts_total{process="stackd"} goes 0 -> 1 and the
#     child is up again; the others stay at 0
# (d) any other path is 404, POST is refused (405)
# then SIGTERM must stop tungate cleanly.
#
# Usage: test_metrics.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1
if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	tg_skip "test_metrics: the kernel path has no tungate"
	exit 0
fi

PORT=9474
URL=http://127.0.0.1:$PORT
SIZE=$((1024 * 1024))

tg_init tge2e "$$"
tg_topology
tg_start_httpd
tg_start_gateway --metrics-listen "127.0.0.1:$PORT"

scrape() { # [PATH [curl args]]: the body on stdout
	local path=${1:-/metrics}
	shift || true
	ip netns exec "$TG_NS_GW" curl -sS --max-time 5 --noproxy '*' "$@" "$URL$path"
}

# The value of one sample: metric{labels} exactly as printed.
sample() { # TEXT NAME_AND_LABELS
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }' <<<"$1"
}

# Counters are published by each child about once a second: wait until cond holds.
wait_sample() { # NAME_AND_LABELS MIN SECONDS
	local end=$((SECONDS + $3)) v
	while :; do
		v=$(sample "$(scrape)" "$1")
		[[ $v != missing ]] && ((v >= $2)) && { echo "$v"; return 0; }
		((SECONDS >= end)) && { echo "$v"; return 1; }
		sleep 0.2
	done
}

tg_wait_for 10 "metrics endpoint" tg_listening "$TG_NS_GW" 127.0.0.1 "$PORT" ||
	fail "nothing listens on 127.0.0.1:$PORT in $TG_NS_GW"

# (a) the format
HDRS=$(scrape /metrics -D - -o /dev/null)
if grep -qi '^content-type: text/plain; version=0.0.4' <<<"$HDRS" && grep -q '^HTTP/1.1 200' <<<"$HDRS"; then
	tg_pass "(a) GET /metrics: 200, text/plain; version=0.0.4"
else
	tg_fail_check "(a) GET /metrics headers: $(tr -d '\r' <<<"$HDRS" | tr '\n' '|')"
fi
wait_sample 'tungate_counter{process="stackd",name="flows_total"}' 0 10 >/dev/null ||
	tg_fail_check "(a) stackd's counters never appeared"
BEFORE=$(scrape)
missing=
for fam in tungate_flows_open tungate_flows_total tungate_drops_total tungate_ring_used \
	tungate_ring_capacity tungate_child_restarts_total tungate_child_up tungate_counter; do
	grep -q "^# HELP $fam " <<<"$BEFORE" && grep -q "^# TYPE $fam " <<<"$BEFORE" || missing+=" $fam"
done
bad=$(grep -v '^#' <<<"$BEFORE" | grep -Ev '^tungate_[a-z_]+(\{[a-z]+="[A-Za-z0-9_]*"(,[a-z]+="[A-Za-z0-9_]*")*\})? [0-9]+$' | head -n 3)
if [[ -z $missing && -z $bad ]]; then
	tg_pass "(a) $(grep -c '^# TYPE' <<<"$BEFORE") families with HELP and TYPE, $(grep -vc '^#' <<<"$BEFORE") well-formed samples"
else
	tg_fail_check "(a) families without HELP/TYPE:${missing:- none}; malformed lines: ${bad:-none}"
fi
for k in 'tungate_drops_total{process="stackd",reason="malformed"}' \
	'tungate_ring_capacity{link="a"}' 'tungate_ring_used{link="b",from="relayd"}' \
	'tungate_flows_open{proto="udp"}' 'tungate_flows_total{proto="icmp"}'; do
	[[ $(sample "$BEFORE" "$k") == missing ]] && tg_fail_check "(a) no sample $k"
done

# (b) traffic moves the counters
TCP0=$(sample "$BEFORE" 'tungate_flows_total{proto="tcp"}')
OUT0=$(sample "$BEFORE" 'tungate_counter{process="stackd",name="bytes_out"}')
TX0=$(sample "$BEFORE" 'tungate_counter{process="tunio",name="tx_bytes"}')
ok=0
for i in 1 2 3; do
	got=$(tg_client curl -sS --noproxy '*' --max-time 20 -o /dev/null -w '%{size_download}' \
		"http://$TG_SERVER_ADDR:$TG_HTTP_PORT/bytes/$SIZE?seed=$i") && [[ $got == "$SIZE" ]] && ok=$((ok + 1))
done
((ok == 3)) || tg_fail_check "(b) only $ok of 3 transfers through the gateway completed"
TCP1=$(wait_sample 'tungate_flows_total{proto="tcp"}' $((TCP0 + 3)) 10)
OUT1=$(wait_sample 'tungate_counter{process="stackd",name="bytes_out"}' $((OUT0 + 3 * SIZE)) 10)
TX1=$(wait_sample 'tungate_counter{process="tunio",name="tx_bytes"}' $((TX0 + 3 * SIZE)) 10)
if ((TCP1 >= TCP0 + 3 && OUT1 >= OUT0 + 3 * SIZE && TX1 >= TX0 + 3 * SIZE)); then
	tg_pass "(b) after 3 x $SIZE bytes: tcp flows total $TCP0 -> $TCP1, stackd bytes_out $OUT0 -> $OUT1, tunio tx_bytes $TX0 -> $TX1"
else
	tg_fail_check "(b) counters did not move: tcp flows $TCP0 -> $TCP1, stackd bytes_out $OUT0 -> $OUT1, tunio tx_bytes $TX0 -> $TX1"
fi

# (c) restarts
R0=$(sample "$(scrape)" 'tungate_child_restarts_total{process="stackd"}')
PID=$(tg_gw_child stackd)
[[ -n $PID ]] || fail "(c) no stackd child"
kill -KILL "$PID"
R1=$(wait_sample 'tungate_child_restarts_total{process="stackd"}' $((R0 + 1)) 10)
UP=$(wait_sample 'tungate_child_up{process="stackd"}' 1 10)
OTHERS=$(scrape | awk '/^tungate_child_restarts_total\{process="(tunio|relayd)"\}/ { s += $2 } END { print s + 0 }')
if [[ $R0 == 0 && $R1 == 1 && $UP == 1 && $OTHERS == 0 ]]; then
	tg_pass "(c) SIGKILL of stackd: restarts $R0 -> $R1, stackd up again, tunio and relayd 0"
else
	tg_fail_check "(c) SIGKILL of stackd: restarts $R0 -> $R1 (want 0 -> 1), up $UP, others $OTHERS"
fi

# (d) nothing else is served
C404=$(scrape /other -o /dev/null -w '%{http_code}')
CROOT=$(scrape / -o /dev/null -w '%{http_code}')
CPOST=$(scrape /metrics -o /dev/null -w '%{http_code}' -X POST -d x)
if [[ $C404 == 404 && $CROOT == 404 && $CPOST == 405 ]]; then
	tg_pass "(d) /other and / answer 404, POST /metrics 405"
else
	tg_fail_check "(d) /other $C404, / $CROOT (want 404), POST $CPOST (want 405)"
fi

tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 40
	echo "test_metrics: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_metrics: all checks passed"
exit 0
