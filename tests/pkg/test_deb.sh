#!/usr/bin/env bash
# Packaging test: sudo tests/pkg/test_deb.sh
#   1. copies the tree (tracked and new files, no build dirs) to a temp dir and builds the
#      Debian package there: DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b
#   2. installs it with apt-get, then checks: tungate --version, tungate -n -c
#      /etc/tungate/tungate.conf, the installed files (children in /usr/libexec/tungate, man
#      pages that render without warnings, the unit, the conffile), the users, the unit enabled;
#      and runs the installed tungate for 2 s in a network namespace of its own (it must find
#      its children and get them all running), and `tungate demo` with the installed script
#   3. purges the package and checks it is gone
# Prints PASS/FAIL per check and "N passed, N failed"; exits 1 if any failed. Skips (exit 0,
# a SKIP line) when not root, when the packaging tools or build dependencies are missing
# (scripts/install-deps.sh installs them), or when a tungate package is already installed.
#
# lwIP: an lwip source package already downloaded by a build of this tree
# (BUILD/_deps/lwip-download, e.g. build/ of scripts/test.sh) is extracted and given to the
# package build as TG_LWIP_SOURCE_DIR, so no second download; otherwise the package build
# fetches it with apt-get source like any build. TG_LWIP_SOURCE_DIR set by the caller wins.
# TG_PKG_KEEP_TMP=1 keeps the temp dir (build log, .deb).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKG=tungate
PASSED=0
FAILED=0
TMP=
INSTALLED=0

say() { echo "test_deb: $*"; }
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
skip() {
	echo "SKIP: test_deb: $*"
	exit 0
}

cleanup() {
	if ((INSTALLED)); then
		say "cleanup: purging $PKG"
		DEBIAN_FRONTEND=noninteractive dpkg --purge "$PKG" >/dev/null 2>&1
	fi
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ ${TG_PKG_KEEP_TMP:-0} == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[[ $(id -u) -eq 0 ]] || skip "needs root (it installs and purges a package)"
for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-source dh fakeroot apt-get; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip "$tool is missing (apt-get install dpkg-dev debhelper fakeroot, or scripts/install-deps.sh)"
done
if [[ $(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null) == installed ]]; then
	skip "a $PKG package is already installed; this test would replace and purge it"
fi
if ! missing=$(cd "$ROOT" && dpkg-checkbuilddeps -B -P nocheck 2>&1); then
	skip "build dependencies missing: ${missing#*: }"
fi

start=$SECONDS
TMP=$(mktemp -d /tmp/tungate-pkg.XXXXXX) || { echo "test_deb: mktemp failed" >&2; exit 1; }
SRC=$TMP/$PKG
mkdir "$SRC"

# The tree as it is now (new files too), without build dirs or anything .gitignore'd.
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
		tar -c --null -T - -f -) | tar -x -C "$SRC" -f - ||
		{ echo "test_deb: copying the tree failed" >&2; exit 1; }
else
	tar -C "$ROOT" --exclude='./build*' --exclude=./.git -c -f - . | tar -x -C "$SRC" -f - ||
		{ echo "test_deb: copying the tree failed" >&2; exit 1; }
fi
VERSION=$(cd "$SRC" && dpkg-parsechangelog -S Version)
say "building $PKG $VERSION in $SRC"

if [[ -z ${TG_LWIP_SOURCE_DIR:-} ]]; then
	for dsc in "$ROOT"/build/_deps/lwip-download/lwip_*.dsc "$ROOT"/build*/_deps/lwip-download/lwip_*.dsc; do
		[[ -f $dsc ]] || continue
		if dpkg-source -x "$dsc" "$TMP/lwip-src" >"$TMP/lwip-extract.log" 2>&1; then
			export TG_LWIP_SOURCE_DIR=$TMP/lwip-src
			say "lwIP from $dsc (already downloaded)"
		fi
		break
	done
fi
[[ -n ${TG_LWIP_SOURCE_DIR:-} ]] || say "lwIP: no downloaded source package found; the build fetches it"

t0=$SECONDS
if (cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
	>"$TMP/build.log" 2>&1; then
	DEB=
	for f in "$TMP/${PKG}_${VERSION}"_*.deb; do [[ -f $f ]] && DEB=$f && break; done
	if [[ -n $DEB ]]; then
		pass "dpkg-buildpackage -us -uc -b: $(basename "$DEB"), $(stat -c %s "$DEB") bytes in $((SECONDS - t0))s"
	else
		fail "dpkg-buildpackage succeeded but left no ${PKG}_${VERSION}_*.deb in $TMP"
	fi
else
	fail "dpkg-buildpackage failed; end of the log:"
	tail -n 40 "$TMP/build.log" | sed 's/^/  | /'
	DEB=
fi

if [[ -n ${DEB:-} ]]; then
	INSTALLED=1
	if DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 \
		-o APT::Install-Recommends=false "$DEB" >"$TMP/install.log" 2>&1; then
		pass "apt-get install $(basename "$DEB")"
	else
		fail "apt-get install failed:"
		tail -n 20 "$TMP/install.log" | sed 's/^/  | /'
	fi
fi

if [[ $(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null) == installed ]]; then
	out=$(/usr/sbin/tungate --version 2>&1)
	if [[ $out == "tungate $VERSION" ]]; then pass "tungate --version: $out"; else fail "tungate --version: '$out', expected 'tungate $VERSION'"; fi

	out=$(/usr/sbin/tungate -n -c /etc/tungate/tungate.conf 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $out == "config OK" ]]; then
		pass "tungate -n -c /etc/tungate/tungate.conf: $out"
	else
		fail "tungate -n -c /etc/tungate/tungate.conf: exit $rc: $out"
	fi

	out=$(/usr/sbin/tungate check /etc/tungate/tungate.conf 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $out == "config OK" ]]; then
		pass "tungate check /etc/tungate/tungate.conf: $out"
	else
		fail "tungate check /etc/tungate/tungate.conf: exit $rc: $out"
	fi
	# --print-config's output is a configuration `tungate check` accepts.
	/usr/sbin/tungate --print-config -c /etc/tungate/tungate.conf >"$TMP/printed.conf" 2>&1
	out=$(/usr/sbin/tungate check "$TMP/printed.conf" 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $out == "config OK" ]] && grep -q '^\[metrics\]' "$TMP/printed.conf"; then
		pass "tungate --print-config: $(grep -c ' = ' "$TMP/printed.conf") keys, accepted by tungate check"
	else
		fail "tungate --print-config | tungate check: exit $rc: $out"
	fi

	bad=()
	for f in /usr/sbin/tungate /usr/libexec/tungate/tunio /usr/libexec/tungate/stackd \
		/usr/libexec/tungate/relayd; do
		[[ -x $f ]] || bad+=("$f")
	done
	for f in /usr/share/man/man8/tungate.8.gz /usr/share/man/man5/tungate.conf.5.gz \
		/lib/systemd/system/tungate.service /usr/share/doc/tungate/examples/tungate.conf \
		/usr/share/tungate/demo/scripts/demo.sh /usr/share/tungate/demo/tests/e2e/lib.sh; do
		[[ -f $f ]] || bad+=("$f")
	done
	for f in /usr/share/doc/tungate/quickstart.md /usr/share/doc/tungate/troubleshooting.md \
		/usr/share/doc/tungate/deployments.md; do
		[[ -f $f || -f $f.gz ]] || bad+=("$f") # dh_compress: .gz above 4 KiB
	done
	if ((${#bad[@]} == 0)); then pass "installed: tungate, 3 children, 2 man pages, unit, docs, demo"; else fail "missing: ${bad[*]}"; fi

	if dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q '^ /etc/tungate/tungate.conf '; then
		pass "/etc/tungate/tungate.conf is a conffile"
	else
		fail "/etc/tungate/tungate.conf is not a conffile: $(dpkg-query -W -f='${Conffiles}' "$PKG")"
	fi

	if grep -qx 'ExecStart=/usr/sbin/tungate -c /etc/tungate/tungate.conf' /lib/systemd/system/tungate.service; then
		pass "unit: ExecStart=/usr/sbin/tungate -c /etc/tungate/tungate.conf"
	else
		fail "unit: no ExecStart=/usr/sbin/tungate -c /etc/tungate/tungate.conf"
	fi
	if [[ -L /etc/systemd/system/multi-user.target.wants/tungate.service ]]; then
		pass "unit enabled (multi-user.target.wants), not started"
	else
		fail "unit not enabled: no /etc/systemd/system/multi-user.target.wants/tungate.service"
	fi
	if command -v systemd-analyze >/dev/null 2>&1; then
		if out=$(systemd-analyze verify /lib/systemd/system/tungate.service 2>&1); then
			pass "systemd-analyze verify tungate.service"
		else
			fail "systemd-analyze verify: $out"
		fi
	fi

	bad=()
	for u in _tungate-tunio _tungate-stackd _tungate-relayd; do
		getent passwd "$u" >/dev/null || bad+=("$u")
	done
	if ((${#bad[@]} == 0)); then pass "users _tungate-tunio, _tungate-stackd, _tungate-relayd exist"; else fail "users missing: ${bad[*]}"; fi

	if command -v man >/dev/null 2>&1; then
		for page in 8/tungate.8 5/tungate.conf.5; do
			f=/usr/share/man/man${page%%/*}/${page#*/}.gz
			warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
			lines=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$f" 2>/dev/null | wc -l)
			if [[ -z $warn ]] && ((lines > 50)); then
				pass "man ${page#*/}: $lines lines, no warnings"
			else
				fail "man ${page#*/}: $lines lines; warnings: $warn"
			fi
		done
	fi

	# The installed tungate, for real, in a network namespace of its own: it must find its
	# children in /usr/libexec/tungate and get all three running.
	if [[ -c /dev/net/tun ]] && command -v unshare >/dev/null 2>&1; then
		log=$TMP/run.log
		unshare -n /usr/sbin/tungate --tun-name tgpkg0 --stats-file "$TMP/run.stats" >"$log" 2>&1 &
		pid=$!
		for _ in $(seq 50); do
			grep -q 'running on tgpkg0' "$log" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		sleep 1
		stats=$(/usr/sbin/tungate stats --stats-file "$TMP/run.stats" 2>&1)
		# Each child under its own user (privsep defaults, created by the postinst).
		users=() wrong=()
		for child in $(pgrep -P "$pid"); do
			name=$(cat "/proc/$child/comm" 2>/dev/null)
			uid=$(awk '/^Uid:/ { print $2 }' "/proc/$child/status" 2>/dev/null)
			want=$(id -u "_tungate-$name" 2>/dev/null)
			users+=("$name:$uid")
			[[ -n $want && $uid == "$want" ]] || wrong+=("$name uid ${uid:-?}, expected ${want:-?} (_tungate-$name)")
		done
		if ((${#users[@]} == 3 && ${#wrong[@]} == 0)); then
			pass "children run as their users: ${users[*]}"
		else
			fail "children's users: ${users[*]:-none}; ${wrong[*]:-}"
		fi
		kill -TERM "$pid" 2>/dev/null
		wait "$pid"
		rc=$?
		if ((rc == 0)) && grep -q 'running on tgpkg0' "$log" && [[ -n $stats ]] &&
			! grep -q 'cannot execute' "$log"; then
			pass "installed tungate ran (children from /usr/libexec/tungate), stats printed, exit 0 on SIGTERM"
		else
			fail "installed tungate: exit $rc; log: $(tail -n 5 "$log")"
		fi
	else
		say "no /dev/net/tun or unshare: not running the installed tungate"
	fi

	# `tungate demo` of the package: the installed script with the installed binaries.
	if [[ -c /dev/net/tun ]] && command -v curl >/dev/null && command -v python3 >/dev/null; then
		if timeout 120 /usr/sbin/tungate demo >"$TMP/demo.log" 2>&1 &&
			grep -q '^OK: transfer through tungate matches' "$TMP/demo.log"; then
			pass "tungate demo (installed): $(grep -m1 '^transfer:' "$TMP/demo.log" | tr -s ' ')"
		else
			fail "tungate demo (installed): $(tail -n 5 "$TMP/demo.log")"
		fi
	else
		say "no /dev/net/tun, curl or python3: not running tungate demo"
	fi
fi

if ((INSTALLED)); then
	if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o Dpkg::Use-Pty=0 "$PKG" \
		>"$TMP/purge.log" 2>&1; then
		INSTALLED=0
		left=()
		for f in /usr/sbin/tungate /usr/libexec/tungate /etc/tungate /lib/systemd/system/tungate.service \
			/etc/systemd/system/multi-user.target.wants/tungate.service; do
			[[ -e $f || -L $f ]] && left+=("$f")
		done
		if ((${#left[@]} == 0)); then pass "apt-get purge $PKG: nothing left"; else fail "left after purge: ${left[*]}"; fi
	else
		fail "apt-get purge $PKG failed: $(tail -n 5 "$TMP/purge.log")"
	fi
fi

say "$((SECONDS - start))s"
echo "test_deb: $PASSED passed, $FAILED failed"
((FAILED == 0))
