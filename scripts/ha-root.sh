# shellcheck shell=bash
# A Debian testing root with the Python that the newest Home Assistant needs,
# for scripts/test. Sourced after scripts/lib.sh; the caller sets ROOT (the
# source tree) and runs as root or with sudo.
#
# The newest Home Assistant needs a newer Python than Debian 12 or pyenv give
# here, and Debian testing ships it as packages from the mirror apt already
# uses. debootstrap makes a minimal root with it once; a venv inside it holds
# the exact lock file. Both are kept at a fixed path of the machine (a fresh
# clone elsewhere finds them) and rebuilt when their inputs change.
#
# Mounts: every command in the root runs in a private mount namespace
# (`unshare --mount`), where proc, /dev, a /tmp and the source tree are
# mounted. Those mounts exist only inside that namespace and end with it, so
# nothing stays mounted under the root on the machine, and a removal of the
# root cannot reach the machine's /dev or the source tree. Removal still
# checks first (remove_cached_tree).

HA_ROOT_CACHE=/var/cache/wxstation
HA_ROOT_SUITE=forky
# What the root needs beyond debootstrap's minimal base: the Python and its
# venv module, Debian's CA bundle for pip, faketime for the test passes with a
# shifted clock, the servers that tests run for real (tests/support/servers.py),
# and for the bridge's tests on this Python, what they drive: libfiu's fiu-run,
# e2fsprogs's mkfs.ext4 (tests/test_disk_faults.py) and tmux (the progress bars).
HA_ROOT_INCLUDE=python3.14,python3.14-venv,ca-certificates,faketime,mosquitto,influxdb,victoria-metrics,fiu-utils,e2fsprogs,tmux
# The bridge's test venv in the root (the bridge's tests on its Python).
HA_ROOT_BRIDGE_VENV=/opt/bridge-venv
HA_ROOT_PYTHON=/usr/bin/python3.14
HA_ROOT="$HA_ROOT_CACHE/ha-root-$HA_ROOT_SUITE"
# Paths inside the root.
HA_ROOT_VENV=/opt/ha-venv
HA_ROOT_TREE=/src

# The Debian mirror apt on this machine uses (the main archive, not security).
debian_mirror() {
    # shellcheck disable=SC2016 # $(...) are apt's field names, not the shell's
    apt-get indextargets --format '$(REPO_URI) $(ORIGIN) $(LABEL) $(COMPONENT)' 2>/dev/null |
        awk '$2 == "Debian" && $3 == "Debian" && $4 == "main" { print $1; exit }'
}

# Prints the mount points at DIR or below it, as the machine sees them.
mounts_under() {
    findmnt -rn -o TARGET | awk -v dir="$1" '$0 == dir || index($0, dir "/") == 1'
}

# remove_cached_tree DIR: rm -rf DIR, which must lie in HA_ROOT_CACHE and have
# nothing mounted at or under it (a bound /dev would be emptied with it).
remove_cached_tree() {
    local dir="$1" mounted
    case "$dir" in
    *..*) die "refusing to remove $dir: a path with '..'" ;;
    "$HA_ROOT_CACHE"/?*) ;;
    *) die "refusing to remove $dir: not inside $HA_ROOT_CACHE" ;;
    esac
    [ -e "$dir" ] || return 0
    mounted="$(mounts_under "$dir")"
    if [ -n "$mounted" ]; then
        die "refusing to remove $dir: still mounted there: ${mounted//$'\n'/ }" \
            "(unmount them first: umount -R MOUNTPOINT)"
    fi
    # --one-file-system: even a mount that findmnt missed is not descended into.
    as_root rm -rf --one-file-system "$dir"
}

# ha_root_run [--rw] [NAME=VALUE...] COMMAND...: COMMAND in the root, as root,
# with the source tree at HA_ROOT_TREE (read-only unless --rw) as the current
# directory, a fresh tmpfs on /tmp and only the environment given here.
ha_root_run() {
    local tree_mode=ro
    if [ "${1:-}" = --rw ]; then
        tree_mode=rw
        shift
    fi
    # shellcheck disable=SC2016 # the script expands its own arguments
    as_root unshare --mount --propagation private -- bash -euc '
        root=$1 tree=$2 inside=$3 mode=$4
        shift 4
        unmount() {
            rc=$?
            umount -R "$root$inside" "$root/tmp" "$root/dev" "$root/proc" ||
                echo "ha-root: unmounting failed; the mounts end with their namespace" >&2
            exit "$rc"
        }
        trap unmount EXIT
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs tmpfs "$root/tmp"
        mount --bind "$tree" "$root$inside"
        if [ "$mode" = ro ]; then
            mount -o remount,bind,ro "$root$inside"
        fi
        chroot "$root" /usr/bin/env -i \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            /bin/sh -c "cd \"\$0\" && exec env \"\$@\"" "$inside" "$@"
    ' ha-root "$HA_ROOT" "$ROOT" "$HA_ROOT_TREE" "$tree_mode" "$@"
}

# Builds the root at HA_ROOT unless its stamp says it has HA_ROOT_INCLUDE from
# HA_ROOT_SUITE. A new root is made beside the old one and moved into place
# only once complete.
ensure_ha_root() {
    local stamp="$HA_ROOT_SUITE $HA_ROOT_INCLUDE" stamp_file="$HA_ROOT/.wxstation-root-stamp"
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
        note "$HA_ROOT is up to date ($HA_ROOT_SUITE: $HA_ROOT_INCLUDE)"
        return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    local scripts=/usr/share/debootstrap/scripts
    if [ ! -e "$scripts/$HA_ROOT_SUITE" ]; then
        # Older debootstraps (Debian 12's) do not know the newest testing
        # suite yet; it is built like sid.
        [ -e "$scripts/sid" ] || die "debootstrap has neither a $HA_ROOT_SUITE nor a sid script in $scripts"
        as_root ln -s sid "$scripts/$HA_ROOT_SUITE"
    fi
    local mirror
    mirror="$(debian_mirror)"
    if [ -z "$mirror" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        mirror="$(debian_mirror)"
    fi
    [ -n "$mirror" ] || die "no Debian mirror in apt's sources (apt-get indextargets lists no Debian main archive)"

    local new="$HA_ROOT.new" log="$HA_ROOT_CACHE/debootstrap.log"
    remove_cached_tree "$new"
    note "building $HA_ROOT from $mirror ($HA_ROOT_SUITE: $HA_ROOT_INCLUDE); log in $log"
    # debootstrap mounts proc and sys in the new root while it installs: a
    # private mount namespace keeps even a killed debootstrap's mounts off
    # the machine.
    if ! as_root unshare --mount --propagation private -- \
        debootstrap --variant=minbase --include="$HA_ROOT_INCLUDE" \
        "$HA_ROOT_SUITE" "$new" "$mirror" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "debootstrap of $HA_ROOT_SUITE failed (full log: $log)"
    fi
    as_root mkdir -p "$new$HA_ROOT_TREE"
    echo "$stamp" | as_root tee "$new/.wxstation-root-stamp" >/dev/null
    remove_cached_tree "$HA_ROOT"
    as_root mv "$new" "$HA_ROOT"
}

# ensure_ha_root_venv LOCKFILE: the venv at HA_ROOT_VENV in the root, with
# exactly LOCKFILE and the project (editable, from HA_ROOT_TREE), rebuilt when
# the lock file, pyproject.toml or the root's Python change.
ensure_ha_root_venv() {
    local lock="$1" venv="$HA_ROOT$HA_ROOT_VENV" version stamp
    version="$(ha_root_run "$HA_ROOT_PYTHON" --version)"
    # shellcheck disable=SC2046 # one word per file
    stamp="$(hash_files "$lock" pyproject.toml setup.py $(library_files))-$version"
    if [ -f "$venv/.wxstation-stamp" ] && [ "$(cat "$venv/.wxstation-stamp")" = "$stamp" ]; then
        note "$venv is up to date ($version)"
        return 0
    fi
    remove_cached_tree "$venv"
    root_pip_network
    note "creating $venv with $version; installing $lock and the project"
    # --no-deps with `pip check` after: a package the lock file misses is an
    # error, not an unpinned download.
    # shellcheck disable=SC2016 # the script expands its own arguments
    ha_root_run --rw PIP_CERT=/etc/ssl/certs/machine-ca-certificates.crt \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off \
        /bin/sh -ec '
            "$0" -m venv "$1"
            "$1/bin/pip" install -q --no-deps -r "$2"
            "$1/bin/pip" install -q --no-deps ./library -e .
            "$1/bin/pip" check
        ' "$HA_ROOT_PYTHON" "$HA_ROOT_VENV" "$lock"
    echo "$stamp" | as_root tee "$venv/.wxstation-stamp" >/dev/null
}

# pip in the root needs the machine's name service and the CA bundle it trusts
# (which may hold a local CA that Debian's bundle in the root lacks).
root_pip_network() {
    local ca="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
    as_root cp /etc/resolv.conf "$HA_ROOT/etc/resolv.conf"
    as_root cp "$ca" "$HA_ROOT/etc/ssl/certs/machine-ca-certificates.crt"
}

# ensure_root_bridge_venv DIST: the bridge's tests on the root's Python, against
# both wheels in DIST (a folder of the tree): the venv holds their dependencies
# and the test tools (rebuilt when pyproject.toml or setup.py change); the
# wheels themselves are reinstalled every run.
ensure_root_bridge_venv() {
    local dist="$1" venv="$HA_ROOT$HA_ROOT_BRIDGE_VENV" version stamp
    version="$(ha_root_run "$HA_ROOT_PYTHON" --version)"
    stamp="$(hash_files pyproject.toml setup.py library/pyproject.toml)-$version"
    root_pip_network
    if [ ! -f "$venv/.wxstation-stamp" ] || [ "$(cat "$venv/.wxstation-stamp")" != "$stamp" ]; then
        remove_cached_tree "$venv"
        note "creating $venv with $version; installing the wheels in $dist with the test tools"
        # shellcheck disable=SC2016 # the script expands its own arguments
        ha_root_run PIP_CERT=/etc/ssl/certs/machine-ca-certificates.crt \
            PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off \
            /bin/sh -ec '
                "$0" -m venv "$1"
                "$1/bin/pip" install -q "$2"/wxstation-*.whl "$(echo "$2"/wxstation_bridge-*.whl)[test]"
            ' "$HA_ROOT_PYTHON" "$HA_ROOT_BRIDGE_VENV" "$dist"
        echo "$stamp" | as_root tee "$venv/.wxstation-stamp" >/dev/null
    fi
    # shellcheck disable=SC2016 # the script expands its own arguments
    ha_root_run PIP_DISABLE_PIP_VERSION_CHECK=1 /bin/sh -ec '
        "$0/bin/pip" install -q --no-deps --force-reinstall "$1"/wxstation-*.whl "$1"/wxstation_bridge-*.whl
        "$0/bin/pip" check
    ' "$HA_ROOT_BRIDGE_VENV" "$dist"
    note "$venv: $(cd "$ROOT/$dist" && echo *.whl)"
}

# Takes the lock on HA_ROOT for the rest of this run: another run of
# scripts/test on the machine (another clone) waits rather than rebuild the
# root or its venv while tests use them.
lock_ha_root() {
    as_root mkdir -p "$HA_ROOT_CACHE"
    as_root touch "$HA_ROOT_CACHE/lock"
    exec 8<"$HA_ROOT_CACHE/lock"
    if ! flock -n 8; then
        note "waiting for another run that uses $HA_ROOT"
        flock 8
    fi
}
