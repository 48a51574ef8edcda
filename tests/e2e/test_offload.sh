#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119
# End-to-end: TUN offloads (IFF_VNET_HDR, docs/protocol.md "Link A"). With [tun] offload = yes
# (the default) the clients' kernel hands tungate TCP super-packets with partial checksums,
# and tungate hands back coalesced GSO packets with partial checksums:
# (a) the TUN announces TSO and checksum offload to the client namespace (ethtool -k)
# (b) IPv4 and IPv6 upload (PUT) and download (GET) of 20 MB each, byte-exact, and stackd
#     counted super-packets both ways and no bad vnet header
# (c) with --offload no, the same transfers still work and no super-packet is seen
#
# Usage: test_offload.sh [BIN_DIR]   Exit: 0 all passed, 1 a check failed, 77 skipped.
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"
[[ $# -ge 1 ]] && export TG_BIN_DIR=$1

SIZE=$((20 * 1024 * 1024))
CURL=(curl -sS --fail --noproxy '*' --connect-timeout 10 --max-time 120)

tg_init tge2e "$$"
tg_topology
tg_setup_ipv6
tg_start_httpd
tg_start_httpd_at "$TG_SERVER6_ADDR" httpd6
tg_stats_setup || { tg_skip "this tungate has no --stats-file"; exit 77; }
"$TG_PYTHON" "$TG_HTTPD" gen "$SIZE" 31 >"$TG_TMP/www/file.bin"
"$TG_PYTHON" "$TG_HTTPD" gen "$SIZE" 32 >"$TG_TMP/upload.bin"
WANT_GET=$(sha256sum <"$TG_TMP/www/file.bin" | cut -d' ' -f1)
WANT_PUT=$(sha256sum <"$TG_TMP/upload.bin" | cut -d' ' -f1)

digest() { "$TG_PYTHON" "$TG_HTTPD" digest; }

# Both directions over one address family; TAG names the checks.
transfers() {
	local tag=$1 host=$2 got
	got=$(tg_client "${CURL[@]}" "http://$host:$TG_HTTP_PORT/file.bin" | digest)
	if [[ $got == "$WANT_GET $SIZE" ]]; then
		tg_pass "$tag GET $SIZE bytes via $host: sha256 matches"
	else
		tg_fail_check "$tag GET via $host: want '$WANT_GET $SIZE', got '${got:-nothing}'"
	fi
	got=$(tg_client "${CURL[@]}" -T "$TG_TMP/upload.bin" "http://$host:$TG_HTTP_PORT/upload")
	if [[ $got == "$WANT_PUT $SIZE" ]]; then
		tg_pass "$tag PUT $SIZE bytes via $host: server's sha256 matches"
	else
		tg_fail_check "$tag PUT via $host: want '$WANT_PUT $SIZE', got '${got:-nothing}'"
	fi
}

counter() { tg_stat stackd "$1" || echo missing; }

# (a) + (b) -------------------------------------------------------------------------------------
tg_start_gateway --log-level info "${TG_STATS_ARGS[@]}"
feat=$(tg_client ethtool -k "$TG_TUN" 2>/dev/null)
if ! command -v ethtool >/dev/null; then
	tg_skip "(a) ethtool not installed"
elif grep -q '^tcp-segmentation-offload: on' <<<"$feat" &&
	grep -q '^tx-checksumming: on' <<<"$feat"; then
	tg_pass "(a) $TG_TUN has TSO and checksum offload on"
else
	tg_fail_check "(a) $TG_TUN offloads: $(grep -E '^(tcp-segmentation-offload|tx-checksumming):' <<<"$feat" | tr '\n' ' ')"
fi
transfers "(b) IPv4" "$TG_SERVER_ADDR"
transfers "(b) IPv6" "[$TG_SERVER6_ADDR]"
gso_in=$(counter vnet_gso_in)
gso_out=$(counter vnet_gso_out)
bad=$(counter drop_vnet_bad)
if [[ $gso_in =~ ^[0-9]+$ && $gso_out =~ ^[0-9]+$ ]] && ((gso_in > 0 && gso_out > 0)) &&
	[[ $bad == 0 ]]; then
	tg_pass "(b) stackd took $gso_in TCP super-packets and sent $gso_out, no bad vnet header"
else
	tg_fail_check "(b) counters: vnet_gso_in=$gso_in vnet_gso_out=$gso_out drop_vnet_bad=$bad"
fi
tg_check_gateway_alive
tg_stop_gateway

# (c) -------------------------------------------------------------------------------------------
rm -f "$TG_STATS_FILE"
tg_start_gateway --log-level info --offload no "${TG_STATS_ARGS[@]}"
transfers "(c) offload no, IPv4" "$TG_SERVER_ADDR"
gso_in=$(counter vnet_gso_in)
gso_out=$(counter vnet_gso_out)
if [[ $gso_in == 0 && $gso_out == 0 ]]; then
	tg_pass "(c) offload no: no super-packet either way"
else
	tg_fail_check "(c) offload no: vnet_gso_in=$gso_in vnet_gso_out=$gso_out"
fi
tg_check_gateway_alive
tg_check_clean_stop

if ((TG_FAILED > 0)); then
	tg_show_log 200
	echo "test_offload: $TG_FAILED check(s) failed"
	exit 1
fi
echo "test_offload: all checks passed"
exit 0
