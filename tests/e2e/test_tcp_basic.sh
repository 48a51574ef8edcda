#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119 # bash -c scripts expand in the inner shell
# End-to-end: TCP through tungate, byte-exact (the walking skeleton).
#   client ns --TUN--> tungate (gateway ns) --veth--> httpd.py (server ns)
# (a) HTTP GET of a 20 MB file      (b) 100 MB HTTP PUT upload
# (c) 100 MB download over plain TCP (d) 50 concurrent HTTP GETs of 1 MB each
# then tungate must still be running, and SIGTERM must stop it and its children cleanly.
#
# Usage: test_tcp_basic.sh [BIN_DIR]   (or TG_BIN_DIR=...; TG_E2E_KERNEL_PATH=1: see lib.sh)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

FILE_MB=20
BIG=$((100 * 1024 * 1024))
CONC=50
CONC_SIZE=$((1024 * 1024))
URL=http://$TG_SERVER_ADDR:$TG_HTTP_PORT
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10)

tg_init tge2e "$$"
tg_topology
tg_start_httpd
tg_start_gateway --log-level info

digest() { "$TG_PYTHON" "$TG_HTTPD" digest; }

# (a) ------------------------------------------------------------------------------------------
check_file_get() {
	local f=$TG_TMP/www/file.bin want got size t0 el
	"$TG_PYTHON" "$TG_HTTPD" gen $((FILE_MB * 1024 * 1024)) 11 >"$f"
	want=$(sha256sum <"$f" | cut -d' ' -f1)
	size=$(stat -c %s "$f")
	t0=$(tg_now)
	got=$(tg_client "${CURL[@]}" --max-time 120 "$URL/file.bin" | digest)
	local rc=$?
	el=$(tg_elapsed "$t0")
	if ((rc == 0)) && [[ $got == "$want $size" ]]; then
		tg_pass "(a) GET $size-byte file: sha256 $want matches, ${el}s, $(tg_rate "$size" "$el")"
	else
		tg_fail_check "(a) GET $size-byte file: want '$want $size', got '${got:-nothing}' (exit $rc, ${el}s)"
	fi
}

# (b) ------------------------------------------------------------------------------------------
check_upload() {
	local f=$TG_TMP/upload.bin want out rc t0 el
	"$TG_PYTHON" "$TG_HTTPD" gen "$BIG" 22 >"$f"
	want=$(sha256sum <"$f" | cut -d' ' -f1)
	t0=$(tg_now)
	out=$(tg_client "${CURL[@]}" --max-time 300 -T "$f" "$URL/upload")
	rc=$?
	el=$(tg_elapsed "$t0")
	rm -f "$f"
	if ((rc == 0)) && [[ $out == "$want $BIG" ]]; then
		tg_pass "(b) PUT $BIG bytes: server's sha256 $want matches, ${el}s, $(tg_rate "$BIG" "$el")"
	else
		tg_fail_check "(b) PUT $BIG bytes: want '$want $BIG', server said '${out:-nothing}' (curl exit $rc, ${el}s)"
	fi
}

# (c) ------------------------------------------------------------------------------------------
check_raw_download() {
	local want got rc t0 el
	want=$("$TG_PYTHON" "$TG_HTTPD" sha256 "$BIG" 33)
	t0=$(tg_now)
	# bash's /dev/tcp: a plain TCP connection, no HTTP. The server sends BIG bytes and closes.
	got=$(tg_client timeout 300 bash -c \
		'exec 3<>"/dev/tcp/$1/$2" && printf "%s %s\n" "$3" 33 >&3 && cat <&3' \
		_ "$TG_SERVER_ADDR" "$TG_TCP_PORT" "$BIG" | digest)
	rc=$?
	el=$(tg_elapsed "$t0")
	if ((rc == 0)) && [[ $got == "$want $BIG" ]]; then
		tg_pass "(c) plain TCP download of $BIG bytes: sha256 $want matches, ${el}s, $(tg_rate "$BIG" "$el")"
	else
		tg_fail_check "(c) plain TCP download of $BIG bytes: want '$want $BIG', got '${got:-nothing}' (exit $rc, ${el}s)"
	fi
}

# (d) ------------------------------------------------------------------------------------------
check_concurrent() {
	local d=$TG_TMP/conc t0 el i ok=0 bad=0 failed peak
	mkdir -p "$d"
	local -a seeds want
	for ((i = 1; i <= CONC; i++)); do seeds+=($((1000 + i))); done
	mapfile -t want < <("$TG_PYTHON" "$TG_HTTPD" sha256 "$CONC_SIZE" "${seeds[@]}")
	t0=$(tg_now)
	# All requests are held by the server until CONC are in flight at once (wait=CONC, at
	# most 30 s), so the connections really are concurrent.
	failed=$(tg_client bash -c '
		d=$1 n=$2 size=$3 url=$4
		shift 4
		for ((i = 1; i <= n; i++)); do
			"$@" --max-time 120 -o "$d/$i" "$url/bytes/$size?seed=$((1000 + i))&wait=$n" 2>"$d/$i.err" &
		done
		f=0
		for p in $(jobs -p); do wait "$p" || f=$((f + 1)); done
		echo $f' _ "$d" "$CONC" "$CONC_SIZE" "$URL" "${CURL[@]}")
	el=$(tg_elapsed "$t0")
	for ((i = 1; i <= CONC; i++)); do
		if [[ -f $d/$i && $(sha256sum <"$d/$i" | cut -d' ' -f1) == "${want[i - 1]}" ]]; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
			((bad <= 5)) && echo "  connection $i: $(stat -c %s "$d/$i" 2>/dev/null || echo 0) bytes, $(head -c 200 "$d/$i.err")"
		fi
	done
	peak=$(ip netns exec "$TG_NS_SERVER" curl -sS --noproxy '*' --max-time 10 "$URL/stats" | awk '/peak_active/ {print $2}')
	if ((ok == CONC)) && [[ ${failed:-x} == 0 ]] && ((${peak:-0} >= CONC)); then
		tg_pass "(d) $CONC concurrent connections x $CONC_SIZE bytes: all byte-exact, peak $peak in flight at the server, ${el}s, $(tg_rate $((CONC * CONC_SIZE)) "$el")"
	else
		tg_fail_check "(d) $CONC concurrent connections: $ok byte-exact, $bad wrong, curl failures ${failed:-?}, peak in flight at the server ${peak:-?} (want $CONC), ${el}s"
	fi
	rm -rf "$d"
}

check_file_get
check_upload
check_raw_download
check_concurrent
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 200
	echo "test_tcp_basic: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_tcp_basic: all checks passed$([[ $TG_KERNEL_PATH == 1 ]] && echo ' (kernel path, no tungate)')"
exit 0
