#!/usr/bin/env bash
# End-to-end: [log] target = syslog. Every process (tungate, tunio, stackd, relayd) sends its
# lines to /dev/log with its own name, the children from inside their chroot and seccomp
# filter through the socket openlog() connected before them.
#   /dev/log is global, so tungate runs in a mount namespace of its own (unshare -m) whose /dev
#   is a copy of the real one (a tmpfs with the real entries bind-mounted) plus a /dev/log that
#   is a datagram socket of this test, read by a small Python receiver. Nothing outside the
#   test's namespaces and temp dir is touched.
# (a) lines arrive from all four processes, each tagged NAME[PID] with facility daemon, and
#     messages the children log after entering their sandbox (tunio's HELLO from stackd,
#     stackd's "running", relayd's "started") are among them
# (b) stderr stays quiet: nothing of the children's lines went to tungate's stderr
# (c) a transfer through the gateway works and no child was killed (by its seccomp filter)
# then SIGTERM must stop tungate cleanly.
#
# Usage: test_syslog.sh [BIN_DIR]   (or TG_BIN_DIR=...)
# Exit: 0 all passed, 1 a check failed, 77 skipped (not root).
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1
if [[ ${TG_E2E_KERNEL_PATH:-0} == 1 ]]; then
	tg_skip "test_syslog: the kernel path has no tungate"
	exit 0
fi
command -v unshare >/dev/null || fail "unshare not found (util-linux)"

tg_init tge2e "$$"
tg_topology
tg_start_httpd

SOCK=$TG_TMP/devlog.sock
LINES=$TG_TMP/syslog.txt
# The receiver: one datagram per line, for at most 60 s.
"$TG_PYTHON" - "$SOCK" "$LINES" <<'EOF' &
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)  # the children write as their own users
s.settimeout(0.5)
end = time.monotonic() + 60
with open(out, "a", buffering=1) as f:
    while time.monotonic() < end:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        f.write(data.decode("utf-8", "replace").rstrip("\n") + "\n")
EOF
TG_PIDS+=($!)
tg_wait_for 10 "syslog receiver" test -S "$SOCK" || fail "the syslog receiver did not start"

# tungate in its own mount namespace, where /dev/log is $SOCK (see the header).
cat >"$TG_TMP/privdev.sh" <<'EOF'
set -e
tmp=$1 sock=$2
shift 2
mkdir -p "$tmp/dev"
mount -t tmpfs -o mode=755 tungate-test-dev "$tmp/dev"
for e in /dev/* /dev/.[!.]*; do
	[[ -e $e || -L $e ]] || continue
	n=$tmp/dev/${e#/dev/}
	if [[ -L $e ]]; then cp -P "$e" "$n"
	elif [[ -d $e ]]; then mkdir "$n"; mount --rbind "$e" "$n"
	else touch "$n"; mount --bind "$e" "$n"; fi
done
touch "$tmp/dev/log"
mount --bind "$sock" "$tmp/dev/log"
mount --move "$tmp/dev" /dev
exec "$@"
EOF
TG_LOG_STDERR=$TG_TMP/tungate.log
cmd=("$(tg_bin_dir)/tungate" --netns "$TG_NS_CLIENT" --tun-address "$TG_CLIENT_PREFIX"
	--log-target syslog --log-level debug)
tg_say "starting (in $TG_NS_GW, private /dev): ${cmd[*]}"
unshare -m --propagation private bash "$TG_TMP/privdev.sh" "$TG_TMP" "$SOCK" \
	ip netns exec "$TG_NS_GW" "${cmd[@]}" </dev/null >>"$TG_LOG_STDERR" 2>&1 &
TG_GW_PID=$!
# TG_GW_PID is unshare's (then bash's, then ip's: each execs the next), so tungate's own.
tg_wait_for 20 "the TUN" tg_tun_ready || fail "no TUN up in $TG_NS_CLIENT"
TG_TUN=$(tg_find_tun)
ip -n "$TG_NS_CLIENT" route add "$TG_SERVER_NET" dev "$TG_TUN" || fail "route via $TG_TUN"

# (c) traffic, which also makes the children log (at debug) from inside their sandboxes
got=$(tg_client curl -sS --noproxy '*' --max-time 20 -o /dev/null -w '%{size_download}' \
	"http://$TG_SERVER_ADDR:$TG_HTTP_PORT/bytes/100000?seed=1")
[[ $got == 100000 ]] && tg_pass "(c) 100000 bytes through the gateway" ||
	tg_fail_check "(c) transfer through the gateway: got '${got:-nothing}' bytes"

want() { # NAME PATTERN: a line from process NAME matching PATTERN
	grep -E "^<(2[4-9]|3[01])>.* $1\[[0-9]+\]: .*$2" "$LINES" >/dev/null
}
tg_wait_for 10 "lines from all four processes" \
	bash -c "for p in tungate tunio stackd relayd; do grep -q \" \$p\[[0-9]*\]: \" '$LINES' || exit 1; done"
for p in tungate tunio stackd relayd; do
	n=$(grep -cE " $p\[[0-9]+\]: " "$LINES")
	if ((n > 0)) && want "$p" '(info|debug|warning): '; then
		tg_pass "(a) $n syslog lines from $p, facility daemon, tagged $p[PID]"
	else
		tg_fail_check "(a) no syslog line from $p"
	fi
done
want tunio 'HELLO from stackd' && want stackd 'running: mtu' && want relayd 'started, link B' &&
	tg_pass "(a) the children's lines from inside their sandboxes arrived" ||
	tg_fail_check "(a) lines logged inside the sandboxes are missing"

# (b) stderr has nothing of theirs (ASan's own reports would still go there)
if grep -Eq '^(tungate|tunio|stackd|relayd)\[[0-9]+\]: ' "$TG_LOG_STDERR"; then
	tg_fail_check "(b) log lines went to stderr: $(head -n 2 "$TG_LOG_STDERR")"
else
	tg_pass "(b) nothing logged to stderr"
fi

# (c) no child died: tungate would have said so, in syslog
if grep -Eq 'killed by signal|restarted, pid|giving up' "$LINES"; then
	tg_fail_check "(c) a child died: $(grep -E 'killed by signal|restarted' "$LINES" | head -n 2)"
else
	tg_pass "(c) no child was killed or restarted"
fi

TG_LOG=$LINES # for tg_show_log on failure
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 40
	cat "$TG_LOG_STDERR"
	echo "test_syslog: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_syslog: all checks passed"
exit 0
