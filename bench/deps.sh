#!/usr/bin/env bash
# Install what bench/run.sh needs on Debian 12, on top of scripts/install-deps.sh (the build and
# test packages): iperf3, wrk, nginx-light (the HTTP server for the request/response and
# connection-rate figures), gnuplot-nox (the chart), python3, iproute2, procps.
# Installs only what is missing. Needs root.
#
# nginx's package would start a system-wide nginx on port 80 in the root namespace; the benchmark
# does not want that, so when the machine has no /usr/sbin/policy-rc.d one that forbids starting
# services is put there for the duration of the install and removed afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKGS=(iperf3 wrk nginx-light gnuplot-nox python3 iproute2 procps)

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/deps: needs root (try: sudo $0)" >&2
	exit 1
fi

if [[ ${1:-} != --no-build-deps ]]; then
	"$ROOT/scripts/install-deps.sh"
fi

missing=()
for p in "${PKGS[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "bench/deps: all ${#PKGS[@]} benchmark packages present; nothing to do"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 -o APT::Install-Recommends=false)
POLICY=/usr/sbin/policy-rc.d
made_policy=0
cleanup() { ((made_policy)) && rm -f "$POLICY"; return 0; }
trap cleanup EXIT
if [[ ! -e $POLICY ]]; then
	printf '#!/bin/sh\n# bench/deps.sh: no service starts during this install\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	made_policy=1
fi
echo "bench/deps: apt-get update"
apt-get "${APT_OPTS[@]}" update >/dev/null
echo "bench/deps: installing ${missing[*]}"
apt-get "${APT_OPTS[@]}" install "${missing[@]}" >/dev/null
echo "bench/deps: done"
