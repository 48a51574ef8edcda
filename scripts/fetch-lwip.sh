#!/bin/sh
# fetch-lwip.sh DESTDIR PATCHDIR
#
# Puts a patched lwIP source tree at DESTDIR. No lwIP source lives in the tungate repository:
# the tree comes from Debian's source package `lwip` (upstream 2.1.3+dfsg1, Debian's own
# patches applied, as `apt-get source` extracts it), then every PATCHDIR/*.patch is applied in
# name order. The core sources have CRLF line endings and the patches keep them, hence
# `patch --binary`.
#
# Idempotent: DESTDIR/.tungate-patched records a hash of the patches; when it matches, nothing
# is done. When the patches change, the tree is extracted again from the downloaded source
# package kept next to DESTDIR (no second download).
#
# TG_LWIP_SOURCE_DIR, if set, names an already extracted, unpatched lwip source tree to use
# instead of apt (offline builds).
#
# Without a deb-src entry for Debian main, one is added as
# /etc/apt/sources.list.d/tungate-deb-src.sources (needs root).

set -eu

LWIP_UPSTREAM=2.1.3+dfsg1
MARKER=.tungate-patched
DEBSRC_FILE=/etc/apt/sources.list.d/tungate-deb-src.sources

prog=fetch-lwip.sh
tmp=

die()
{
	echo "$prog: error: $*" >&2
	exit 1
}

note()
{
	echo "$prog: $*" >&2
}

cleanup()
{
	if [ -n "$tmp" ] && [ -d "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# The hash covers file names and contents, so renaming, editing, adding or removing a patch
# all force a fresh tree.
patches_hash()
{
	(
		cd "$PATCHDIR"
		for p in *.patch; do
			[ -f "$p" ] || continue
			printf '%s\n' "$p"
			cat "$p"
		done
	) | sha256sum | cut -d' ' -f1
}

# Prints the os-release field named $1 (empty if absent).
os_release()
{
	sed -n "s/^$1=//p" /etc/os-release | tr -d "\"'"
}

# True if a one-line-style sources.list file has an enabled deb-src line for Debian main.
has_debsrc_oneline()
{
	awk -v suite="$1" '
		/^[ \t]*deb-src[ \t]/ {
			i = 2
			if ($i ~ /^\[/) {
				while (i <= NF && $i !~ /\]$/)
					i++
				i++
			}
			uri = $i; dist = $(i + 1)
			if (uri !~ /debian/ || dist != suite)
				next
			for (j = i + 2; j <= NF; j++)
				if ($j == "main")
					found = 1
		}
		END { exit found ? 0 : 1 }' "$2"
}

# True if a deb822 .sources file has an enabled deb-src paragraph for Debian main.
has_debsrc_deb822()
{
	awk -v suite="$1" '
		function check() {
			if (types ~ /(^| )deb-src( |$)/ && uris ~ /debian/ &&
			    suites ~ ("(^| )" suite "( |$)") &&
			    comps ~ /(^| )main( |$)/ && enabled != "no")
				found = 1
			types = uris = suites = comps = enabled = ""
		}
		/^[ \t]*$/ { check(); next }
		/^#/ { next }
		/^[ \t]/ { next }	# continuation line, e.g. an inline Signed-By key
		{
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { check(); exit found ? 0 : 1 }' "$2"
}

have_debsrc()
{
	if [ -f /etc/apt/sources.list ] && has_debsrc_oneline "$1" /etc/apt/sources.list; then
		return 0
	fi
	for f in /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && has_debsrc_oneline "$1" "$f" && return 0
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && has_debsrc_deb822 "$1" "$f" && return 0
	done
	return 1
}

need_root()
{
	[ "$(id -u)" -eq 0 ] ||
		die "$1 needs root; run this once as root, or set TG_LWIP_SOURCE_DIR to an" \
			"extracted lwip $LWIP_UPSTREAM source tree"
}

ensure_debsrc()
{
	codename=$(os_release VERSION_CODENAME)
	[ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release"
	if have_debsrc "$codename"; then
		# The entry may be there while its index was never downloaded.
		if [ -z "$(apt-cache showsrc lwip 2>/dev/null)" ]; then
			need_root "apt-get update (deb-src index for lwip missing)"
			note "deb-src index missing, running apt-get update"
			apt-get update -q >&2 || die "apt-get update failed"
		fi
		return 0
	fi
	[ "$(os_release ID)" = debian ] ||
		die "no deb-src entry and this is not Debian; set TG_LWIP_SOURCE_DIR"
	need_root "adding $DEBSRC_FILE"
	note "no deb-src entry for Debian main ($codename): adding $DEBSRC_FILE"
	cat >"$DEBSRC_FILE" <<EOF || die "cannot write $DEBSRC_FILE"
# Added by tungate's scripts/fetch-lwip.sh: the build fetches lwIP with apt-get source.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	apt-get update -q >&2 || die "apt-get update failed"
}

ensure_dpkg_dev()
{
	command -v dpkg-source >/dev/null 2>&1 && return 0
	need_root "installing dpkg-dev (for dpkg-source)"
	note "dpkg-source missing: installing dpkg-dev"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpkg-dev >&2 ||
		die "apt-get install dpkg-dev failed"
}

# Prints the newest downloaded lwip source package description in $1 (nothing if none).
find_dsc()
{
	found_dsc=
	for f in "$1/lwip_$LWIP_UPSTREAM"-*.dsc; do
		[ -f "$f" ] && found_dsc=$f
	done
	printf '%s' "$found_dsc"
}

# Downloads the source package once into $dl, then extracts it (Debian patches applied, as
# `apt-get source` does) to $tmp/lwip.
fetch_apt()
{
	if [ -z "$(find_dsc "$dl")" ]; then
		ensure_debsrc
		ensure_dpkg_dev
		rm -rf "$dl" "$dl.part"
		mkdir "$dl.part"
		(cd "$dl.part" && apt-get source -q --download-only lwip >&2) ||
			die "apt-get source lwip failed"
		[ -n "$(find_dsc "$dl.part")" ] ||
			die "apt-get source lwip did not fetch upstream $LWIP_UPSTREAM:" \
				"$(ls "$dl.part")"
		mv "$dl.part" "$dl"
	fi
	ensure_dpkg_dev
	dsc=$(find_dsc "$dl")
	dpkg-source -x "$dsc" "$tmp/lwip" >&2 || die "dpkg-source -x $dsc failed"
}

fetch_local()
{
	[ -f "$TG_LWIP_SOURCE_DIR/src/include/lwip/init.h" ] ||
		die "TG_LWIP_SOURCE_DIR=$TG_LWIP_SOURCE_DIR is not an lwip source tree"
	note "using TG_LWIP_SOURCE_DIR=$TG_LWIP_SOURCE_DIR"
	mkdir "$tmp/lwip"
	cp -a "$TG_LWIP_SOURCE_DIR/." "$tmp/lwip/" || die "cannot copy $TG_LWIP_SOURCE_DIR"
	rm -f "$tmp/lwip/$MARKER"
}

# The patches and lwipopts.h are written against one lwIP release: refuse any other.
check_version()
{
	v=$(tr -d '\r' <"$1/src/include/lwip/init.h" | awk '
		$1 == "#define" && $2 == "LWIP_VERSION_MAJOR" { ma = $3 }
		$1 == "#define" && $2 == "LWIP_VERSION_MINOR" { mi = $3 }
		$1 == "#define" && $2 == "LWIP_VERSION_REVISION" { re = $3 }
		END { print ma "." mi "." re }')
	[ "$v" = "${LWIP_UPSTREAM%%+*}" ] ||
		die "lwIP source is version $v, tungate's patches need ${LWIP_UPSTREAM%%+*}"
}

apply_patches()
{
	for p in "$PATCHDIR"/*.patch; do
		[ -f "$p" ] || continue
		note "applying $(basename "$p")"
		patch -d "$1" -p1 --binary --forward --batch --no-backup-if-mismatch \
			-r - <"$p" >&2 || die "patch $p does not apply"
	done
}

main()
{
	[ $# -eq 2 ] || die "usage: $prog DESTDIR PATCHDIR"
	export LC_ALL=C
	DESTDIR=$1
	PATCHDIR=$2
	[ -d "$PATCHDIR" ] || die "patch directory $PATCHDIR does not exist"
	PATCHDIR=$(cd "$PATCHDIR" && pwd)
	parent=$(dirname "$DESTDIR")
	mkdir -p "$parent" || die "cannot create $parent"
	parent=$(cd "$parent" && pwd)
	DESTDIR=$parent/$(basename "$DESTDIR")
	dl=$DESTDIR-download

	hash=$(patches_hash)
	if [ -f "$DESTDIR/$MARKER" ] && [ "$(cat "$DESTDIR/$MARKER")" = "$hash" ]; then
		exit 0
	fi
	if [ -e "$DESTDIR" ] && [ ! -f "$DESTDIR/$MARKER" ] &&
		[ ! -f "$DESTDIR/src/include/lwip/init.h" ]; then
		die "$DESTDIR exists and is not an lwIP tree made by $prog; remove it"
	fi

	command -v patch >/dev/null 2>&1 || die "patch(1) is missing: apt-get install patch"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	tmp=$(mktemp -d "$parent/.lwip-fetch.XXXXXX") || die "mktemp in $parent failed"

	if [ -n "${TG_LWIP_SOURCE_DIR:-}" ]; then
		fetch_local
	else
		fetch_apt
	fi
	check_version "$tmp/lwip"
	apply_patches "$tmp/lwip"
	printf '%s\n' "$hash" >"$tmp/lwip/$MARKER"

	# Swap in the finished tree only now, so DESTDIR is never half patched.
	rm -rf "$DESTDIR"
	mv "$tmp/lwip" "$DESTDIR" || die "cannot move the tree to $DESTDIR"
	note "lwIP $LWIP_UPSTREAM ready in $DESTDIR"
}

main "$@"
