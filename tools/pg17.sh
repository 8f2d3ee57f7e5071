#!/usr/bin/env bash
# PostgreSQL 17 for the suite, in a private prefix outside the checkout
# (default /var/cache/loyalty/pg17root), made once and reused: Debian trixie's
# own packages of 17 (server, client, server-dev headers and PGXS, pgTAP,
# pg_cron), unpacked with dpkg-deb -x -- never installed with dpkg, so
# nothing of the system changes -- together with the trixie C library and
# the other libraries they need.  The programs get that C library's loader
# and library path written into them (patchelf), so they run on Debian 12
# beside PostgreSQL 15 without touching it.
#
# Why not a build from source: trixie's source packages are not served to
# this machine (apt-get source postgresql-17 gets 404 for the .dsc and the
# tarball), its binary packages are.  The binaries are Debian's release
# build of 17 (the same a trixie server runs), so the suite tests what users
# run; loyalty itself is compiled here against 17's headers from
# postgresql-server-dev-17.
#
#   tools/pg17.sh              make or check the cache; prints its bindir last
#   LOYALTY_PG17_CACHE=DIR     the cache (default /var/cache/loyalty)
#
# apt runs with a private configuration under the cache (its own sources
# list with trixie, state and archives): the system's apt never sees trixie.
# A no-op when the cache exists and was made from the same package list.
set -euo pipefail

cache="${LOYALTY_PG17_CACHE:-/var/cache/loyalty}"
root="$cache/pg17root"
bindir="$root/usr/lib/postgresql/17/bin"
# what the suite needs: the server and its programs, PGXS, pgTAP, pg_cron,
# and the libraries they load (the C library and the loader included)
packages=(postgresql-17 postgresql-client-17 postgresql-server-dev-17 libpq5
          postgresql-17-pgtap postgresql-17-cron
          libc6 libgcc-s1 libstdc++6 libicu76 libssl3t64 libxml2 libzstd1 liblz4-1 zlib1g liblzma5
          libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
          libldap2 libsasl2-2 libsystemd0 libcap2 libpam0g libselinux1 libpcre2-8-0 libuuid1
          libllvm19 libz3-4 libedit2 libffi8 libtinfo6 libbsd0 libmd0)
want="trixie: ${packages[*]}"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ -f "$root/.loyalty-stamp" ] && grep -qxF "$want" "$root/.loyalty-stamp" &&
	"$bindir/postgres" -V 2>/dev/null | grep -q ' 17\.'; then
	echo "== PostgreSQL 17 cached in $root ($("$bindir/postgres" -V))" >&2
	echo "$bindir"
	exit 0
fi

start=$(date +%s)
for p in patchelf file; do
	command -v "$p" >/dev/null ||
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done

# apt with a private configuration: trixie's binary index, verified with
# Debian's archive keyring, kept under the cache
apt="$cache/apt"
as_root mkdir -p "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$apt/state/lists/partial" \
	"$apt/cache/archives/partial" "$cache/debs"
as_root touch "$apt/state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" |
	as_root tee "$apt/etc/sources.list" >/dev/null
as_root tee "$apt/apt.conf" >/dev/null <<EOF
Dir::Etc::SourceList "$apt/etc/sources.list";
Dir::Etc::SourceParts "$apt/etc/sources.list.d";
Dir::Etc::Preferences "$apt/etc/preferences";
Dir::Etc::PreferencesParts "$apt/etc/preferences.d";
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
EOF
echo "== fetching PostgreSQL 17 and its libraries from trixie into $cache" >&2
as_root env APT_CONFIG="$apt/apt.conf" apt-get update -qq
as_root rm -f "$cache"/debs/*.deb
(cd "$cache/debs" && as_root env APT_CONFIG="$apt/apt.conf" apt-get download -qq "${packages[@]}" 2>&1 |
	{ grep -v 'unsandboxed' || true; } >&2)

as_root rm -rf "$root.new"
as_root mkdir -p "$root.new"
for f in "$cache"/debs/*.deb; do
	as_root dpkg-deb -x "$f" "$root.new"
done
# the programs load trixie's C library with its own loader; the extensions
# the server loads (llvmjit, pg_cron, loyalty) find theirs through it
loader="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
libpath="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
new="$root.new/usr/lib/postgresql/17"
for f in "$new"/bin/* "$new"/lib/pgxs/src/test/regress/pg_regress \
	"$new"/lib/pgxs/src/test/isolation/pg_isolation_regress "$new"/lib/pgxs/src/test/isolation/isolationtester; do
	if file -L "$f" | grep -q 'ELF .*\(executable\|pie\)'; then
		as_root patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libpath" "$f"
	fi
done
as_root rm -rf "$root"
as_root mv "$root.new" "$root"
as_root chmod -R a+rX "$cache"

# every program and module finds every library it needs, in the version it needs
missing=$(for f in "$bindir"/* "$root"/usr/lib/postgresql/17/lib/*.so; do
	file -L "$f" | grep -q ELF || continue
	"$loader" --library-path "$libpath" --list "$f" 2>&1 | { grep 'not found' || true; } |
		sed "s|^|$(basename "$f"): |"
done | sort -u)
if [ -n "$missing" ]; then
	echo "$missing" >&2
	echo "PostgreSQL 17 in $root misses libraries: add their packages to tools/pg17.sh" >&2
	exit 1
fi
"$bindir/pg_config" --version >/dev/null
echo "$want" | as_root tee "$root/.loyalty-stamp" >/dev/null
echo "== PostgreSQL 17 ready in $root ($("$bindir/postgres" -V)), $(( $(date +%s) - start ))s" >&2
echo "$bindir"
