#!/usr/bin/env bash
# Install what tungate needs to build, test and run its demo on Debian 12 (bookworm).
# Installs only what is missing; does nothing with apt when everything is there. Needs root.
#
# cmake/lwip.cmake fetches lwIP with `apt-get source lwip`, so a deb-src entry for bookworm's
# main component is added (/etc/apt/sources.list.d/tungate-deb-src.sources) when the machine
# has none: Debian's images ship without one.
set -euo pipefail

PKGS=(
	build-essential cmake pkg-config clang-format
	libevent-dev libdpdk-dev libcmocka-dev libinih-dev libmnl-dev libseccomp-dev libsystemd-dev
	dpkg-dev iproute2 curl iperf3 wrk python3 procps psmisc ethtool
	dnsmasq-base bind9-dnsutils iputils-ping iputils-arping ndisc6 microsocks dante-server
	debhelper fakeroot man-db groff-base
	clang libclang-rt-14-dev
)
# e2e tests: ethtool (the TUN's offloads) for test_offload.sh; dnsmasq-base (dnsmasq binary
# only, no system service) and bind9-dnsutils (dig) for test_udp.sh, iputils-ping (ping,
# ping -6) for test_icmp.sh, iputils-arping (arping) and ndisc6 (ndisc6, rdisc6) for
# test_tap*.sh, microsocks (a SOCKS5 server) for test_socks5.sh,
# dante-server (danted: SOCKS5 with UDP ASSOCIATE and username/password) for
# test_socks5_dante.sh, which runs it in its own namespace with its own config; the package's
# system service finds no interface configured in /etc/danted.conf and stays down.
# debhelper and fakeroot (with dpkg-dev) build the Debian package in tests/pkg/test_deb.sh;
# man-db and groff-base check its man pages. clang and libclang-rt-14-dev (libFuzzer and the
# sanitizer runtimes) build the fuzz targets (fuzz/run.sh, docs/fuzzing.md).
DEB_SRC_FILE=/etc/apt/sources.list.d/tungate-deb-src.sources

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: needs root (try: sudo $0)" >&2
	exit 1
fi

# tungate runs each child as its own unprivileged system user (docs/security.md, [privsep]).
# The leading '_' is Debian's convention for new system users (_apt), as on OpenBSD.
TG_USERS=(_tungate-tunio _tungate-stackd _tungate-relayd)
for u in "${TG_USERS[@]}"; do
	if ! getent passwd "$u" >/dev/null; then
		echo "install-deps: adding system user $u"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u"
	fi
done

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 -o APT::Install-Recommends=false)

missing=()
for p in "${PKGS[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done

# Is some deb-src line (one-line or deb822 format) configured?
have_deb_src() {
	grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list ||
		grep -qsiE '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources
}

need_update=0
if ! have_deb_src; then
	echo "install-deps: adding a deb-src entry for bookworm main ($DEB_SRC_FILE), needed by 'apt-get source lwip'"
	cat >"$DEB_SRC_FILE" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	need_update=1
elif ! apt-cache showsrc lwip >/dev/null 2>&1 || [[ -z $(apt-cache showsrc lwip 2>/dev/null) ]]; then
	need_update=1 # deb-src configured but its index was never fetched
fi

if ((${#missing[@]} == 0 && need_update == 0)); then
	echo "install-deps: all ${#PKGS[@]} packages present, lwIP source index present; nothing to do"
	exit 0
fi

# Lists may be empty (fresh machine) or stale: refresh once before installing anything.
echo "install-deps: apt-get update"
apt-get "${APT_OPTS[@]}" update >/dev/null
if ((${#missing[@]} > 0)); then
	echo "install-deps: installing ${missing[*]}"
	apt-get "${APT_OPTS[@]}" install "${missing[@]}" >/dev/null
fi
echo "install-deps: done"
