#!/usr/bin/env bash
# Real CPython 3.14 and 3.15 for the py314-* and py315-* tox environments on Debian 12,
# taken from Debian's unstable suite without installing anything from it system-wide.
#
#   bash tools/debian_python.sh [--refresh] [3.14 3.15 ...]     (default: 3.14 3.15)
#
# For each version it downloads python3.X-minimal, libpython3.X-minimal,
# libpython3.X-stdlib, python3.X, unstable's libc6 (the interpreter needs glibc 2.38+)
# and every shared library they depend on that the installed system does not satisfy
# (libssl3t64, libexpat1, libzstd1, ...), unpacks them with `dpkg -x` into one private
# prefix, and points the interpreter at that prefix's dynamic loader and libraries with
# patchelf. The system's C library and packages are never touched.
#
# Where: ${RACECOURSE_PYTHON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/racecourse}/python3.X,
# with the interpreter in python3.X/bin, which toxfile.py appends to tox's PATH.
# A version that is already there and imports is left alone (no network), so CI on the
# same machine reuses it; --refresh builds it again from what unstable has now.
# Progress and errors go to stderr; stdout gets each working bin directory, one a line.
# Exit status: 0 when every version asked for works; otherwise 1, after trying them all.
#
# Integrity: apt checks the suite's Release file against the Debian archive keyring
# (signed-by) and every .deb against the hashes in it; this script never turns that off.
set -euo pipefail

# The address the machine's own apt sources use; another mirror for a test or elsewhere.
mirror=${RACECOURSE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=unstable
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# Without HOME, the home directory in passwd, as Python's expanduser (toxfile.py) does.
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
cache=${RACECOURSE_PYTHON_CACHE:-${XDG_CACHE_HOME:-$home/.cache}/racecourse}
marker=.racecourse-debian-python   # written last: a prefix without it is half-built

say() { echo "debian_python: $*" >&2; }

refresh=false
versions=()
for arg in "$@"; do
    case $arg in
        --refresh) refresh=true ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        3.[0-9]|3.[0-9][0-9]) versions+=("$arg") ;;
        *) say "unknown argument '$arg' (want versions such as 3.14, or --refresh)"; exit 2 ;;
    esac
done
[ ${#versions[@]} -gt 0 ] || versions=(3.14 3.15)

# The quick check, also run on a cached prefix: the modules racecourse and its tests
# need, whose extension modules load the private libraries (ssl: libssl/libcrypto).
# Both checks run with -I, so that no file in the current folder and no PYTHONPATH
# stands in for a module of the standard library.
quick_check='import ssl, sqlite3, ctypes, multiprocessing, _multiprocessing, lzma, bz2, zlib, readline, decimal, json, hashlib, pyexpat, multiprocessing.shared_memory'

# The build-time check: every extension module imports, and a Pool works under each
# start method (spawn and forkserver start the interpreter afresh).
full_check='
import importlib, multiprocessing, os, sys, sysconfig
dynload = sysconfig.get_path("platstdlib") + "/lib-dynload"
for name in sorted(os.listdir(dynload)):
    if name.endswith(".so"):
        importlib.import_module(name.split(".")[0])
for method in ("fork", "spawn", "forkserver"):
    with multiprocessing.get_context(method).Pool(2) as pool:
        assert pool.map(abs, [-1, 2, -3]) == [1, 2, 3], method
'

mkdir -p "$cache"
[[ $cache != *:* ]] || { say "the cache path '$cache' has a ':', which an RPATH cannot hold"; exit 2; }
# One run at a time per cache: CI and a developer may start it together.
exec 9>"$cache/.debian_python.lock"
flock -n 9 || { say "waiting for another run to finish with $cache"; flock 9; }

cached() {  # cached VERSION: the prefix is complete and its interpreter works
    local prefix=$cache/python$1
    [ -f "$prefix/$marker" ] && [ -x "$prefix/bin/python$1" ] &&
        "$prefix/bin/python$1" -I -c "$quick_check" >/dev/null 2>&1
}

need=()
for v in "${versions[@]}"; do
    if $refresh || ! cached "$v"; then need+=("$v"); fi
done

# Private apt state, set up only when something must be downloaded. The machine's apt
# configuration (proxy, mirrors) still applies, but its sources, lists, pins, status and
# archive cache are replaced by ones in a temporary folder, so nothing system-wide moves.
arch=$(dpkg --print-architecture)
apt_opts=()
work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT

setup_apt() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/racecourse-apt.XXXXXX")
    chmod 755 "$work"   # apt downloads as the user _apt when run as root
    mkdir -p "$work/etc/preferences.d" "$work/state/lists/partial" "$work/cache/archives/partial"
    : >"$work/state/status"   # an empty dpkg status: apt plans nothing against the system
    echo "deb [arch=$arch signed-by=$keyring] $mirror $suite main" >"$work/etc/sources.list"
    apt_opts=(
        -o "Dir::Etc::sourcelist=$work/etc/sources.list" -o Dir::Etc::sourceparts=-
        -o "Dir::Etc::preferences=$work/etc/preferences" -o "Dir::Etc::preferencesparts=$work/etc/preferences.d"
        -o "Dir::State=$work/state" -o "Dir::State::Lists=$work/state/lists"
        -o "Dir::State::status=$work/state/status" -o "Dir::Cache=$work/cache"
        # A binary cache of the lists (Debian's docker images turn it off): each apt-cache
        # call below would otherwise parse all of unstable's lists again, a second each.
        -o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=
        # Stated here so that no apt.conf.d setting can relax the signature check.
        -o Acquire::AllowInsecureRepositories=false -o Acquire::AllowDowngradeToInsecureRepositories=false
        -o APT::Get::AllowUnauthenticated=false
    )
    say "reading Debian $suite's package lists from $mirror"
    # --error-on=any: a failed or unverifiable index is an error, not a warning.
    apt-get "${apt_opts[@]}" -qq --error-on=any update >&2
}

# What the system has installed, name -> version, read once.
declare -A installed=()
read_installed() {
    local name pkg_arch status version
    while read -r name pkg_arch status version; do
        if [[ $status == ii && ( $pkg_arch == "$arch" || $pkg_arch == all ) ]]; then installed[$name]=$version; fi
    done < <(dpkg-query -W -f='${Package} ${Architecture} ${db:Status-Abbrev} ${Version}\n')
}

# system_has NAME [OP VERSION]: an installed package of the system satisfies it.
system_has() {
    [ -n "${installed[$1]+set}" ] || return 1
    [ -z "${2:-}" ] || dpkg --compare-versions "${installed[$1]}" "$2" "$3"
}

# resolve VERSION: prints the packages to download. The interpreter's four packages and
# libc6 always (the private loader and libc go together); then, transitively, each
# shared-library dependency (lib*) that neither the system nor the chosen set satisfies.
# Data packages (tzdata, media-types, netbase) are the system's. libc-gconv-modules-extra
# is left out: the private libc looks for iconv modules in the system's folder anyway.
resolve() {
    local v=$1 level next chosen=" " pkg clause alt name op ver ok first
    level=("python$v-minimal" "libpython$v-minimal" "libpython$v-stdlib" "python$v" libc6)
    for pkg in "${level[@]}"; do chosen+="$pkg "; echo "$pkg"; done
    while [ ${#level[@]} -gt 0 ]; do
        next=()
        # One dependency a line, "name[:arch] [(op version)] [| alternative ...]"; one
        # apt-cache call per level of the graph, as each call reads all the lists.
        while IFS= read -r clause; do
            ok=false first=""
            IFS='|' read -ra alts <<<"$clause"
            for alt in "${alts[@]}"; do
                read -r name op ver <<<"$(sed -E 's/^ *([^ :(]+)(:[a-z0-9]+)?/\1/; s/[()]/ /g' <<<"$alt")"
                first=${first:-$name}
                if [[ $name != lib* || $chosen == *" $name "* ]] || system_has "$name" "$op" "$ver"; then
                    ok=true; break
                fi
            done
            if $ok || [ "$first" = libc-gconv-modules-extra ]; then continue; fi
            chosen+="$first "; next+=("$first"); echo "$first"
        done < <(apt-cache "${apt_opts[@]}" show --no-all-versions "${level[@]}" |
            sed -n -E 's/^(Pre-)?Depends: //p' | tr ',' '\n' | sed -E '/^ *$/d')
        level=("${next[@]}")
    done
}

build() {  # build VERSION, in a subshell under set -e; any failure ends it
    local v=$1 prefix=$cache/python$1 debs pkgs interp triplet libdir rpath debver
    die() { say "python$v: $*"; exit 1; }
    apt-cache "${apt_opts[@]}" show --no-all-versions "python$v-minimal" >/dev/null 2>&1 ||
        die "not set up: Debian $suite has no package python$v-minimal (any more) at $mirror"
    debver=$(apt-cache "${apt_opts[@]}" show --no-all-versions "python$v-minimal" | sed -n 's/^Version: //p')
    mapfile -t pkgs < <(resolve "$v")
    say "python$v: downloading Debian $debver with ${pkgs[*]}"
    debs=$work/debs-$v
    mkdir -p "$debs"
    [ "$(id -u)" -ne 0 ] || ! id -u _apt >/dev/null 2>&1 || chown _apt "$debs"
    (cd "$debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" >&2) ||
        die "not set up: downloading ${pkgs[*]} from $mirror ($suite) failed"

    rm -rf "$prefix"
    mkdir -p "$prefix"
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$prefix"; done
    # Absolute symlinks (sitecustomize.py -> /etc/python3.X/...) point into the prefix.
    find "$prefix" -type l -lname '/*' | while read -r link; do
        ln -sfn "$prefix$(readlink "$link")" "$link"
    done

    # The interpreter runs on the private loader, whose RPATH lists the private libraries
    # before the system's. RPATH, not RUNPATH (--force-rpath): only an executable's RPATH
    # also serves the libraries that extension modules load (_ssl's libssl), which would
    # otherwise come from the system's older OpenSSL.
    interp=$(patchelf --print-interpreter "$prefix/usr/bin/python$v")
    libdir=$(find "$prefix" -name libc.so.6 -print -quit)
    [ -n "$libdir" ] || die "not set up: unstable's libc6 has no libc.so.6 (its layout changed?)"
    libdir=$(dirname "$libdir")
    triplet=$(basename "$libdir")
    [ -e "$libdir/$(basename "$interp")" ] || die "not set up: unstable's libc6 has no $(basename "$interp") beside libc.so.6"
    rpath=$libdir
    [ ! -d "$prefix/lib/$triplet" ] || rpath+=":$prefix/lib/$triplet"
    rpath+=":/usr/lib/$triplet:/lib/$triplet"
    patchelf --set-interpreter "$libdir/$(basename "$interp")" --force-rpath --set-rpath "$rpath" \
        "$prefix/usr/bin/python$v"

    (cd "$work" && "$prefix/usr/bin/python$v" -I -c "$quick_check" && "$prefix/usr/bin/python$v" -I -c "$full_check") ||
        die "not set up: the unpacked interpreter fails its import or multiprocessing check (above)"

    # Last, the marker that says the prefix is complete, then what tox looks for: bin/
    # with python3.X alone (the prefix's usr/bin has pydoc and friends).
    printf '%s\n' "Debian $suite python$v-minimal $debver from $mirror" "${pkgs[@]}" >"$prefix/$marker"
    mkdir -p "$prefix/bin"
    ln -sfn "../usr/bin/python$v" "$prefix/bin/python$v"
}

blocked=""   # why nothing can be built in this run, if so
if [ ${#need[@]} -gt 0 ]; then
    if ! command -v patchelf >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            say "installing patchelf from the system's own suite"
            # apt's output (debconf's chatter among it) only when it fails.
            out=$({ apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf; } 2>&1) ||
                { echo "$out" >&2; blocked="installing patchelf failed (above)"; }
        else
            blocked="patchelf is missing: apt-get install patchelf (as root)"
        fi
    fi
    if [ -z "$blocked" ]; then
        read_installed
        setup_apt || blocked="apt-get update of $mirror $suite failed (above)"
    fi
fi

status=0
for v in "${versions[@]}"; do
    if [[ " ${need[*]} " == *" $v "* ]]; then
        if [ -n "$blocked" ]; then
            say "python$v: not set up: $blocked"
            rc=1
        else
            set +e
            (set -e; build "$v")
            rc=$?
            set -e
        fi
        if [ $rc -ne 0 ]; then
            # A prefix that does not work must not be on tox's PATH (one that still
            # works, after a failed --refresh, stays).
            cached "$v" || rm -rf "$cache/python$v/bin"
            status=1
            continue
        fi
        how=built
    else
        how=cached
    fi
    bin=$cache/python$v/bin
    say "python$v: $("$bin/python$v" -I -c 'import platform; print(platform.python_version())') ($how) in $bin"
    echo "$bin"
done
exit $status
