# shellcheck shell=bash
# Shell functions shared by scripts/bridge and scripts/test: finding a Python,
# installing Debian packages, and keeping the project's virtual environments.
# Sourced, not run; the caller sets ROOT and is in it.
: "${ROOT:?scripts/lib.sh: the caller sets ROOT to the repository}"

section() { printf '\n==== %s ====\n' "$*"; }
note() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
die() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root or sudo to run: $*"
    fi
}

POLICY_RC_D=/usr/sbin/policy-rc.d
CREATED_POLICY_RC_D=0
remove_policy_rc_d() {
    if [ "$CREATED_POLICY_RC_D" -eq 1 ]; then
        as_root rm -f "$POLICY_RC_D"
        CREATED_POLICY_RC_D=0
    fi
}

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# Installs Debian packages that are missing; `apt-get update` only if needed.
# The servers' own services stay stopped: the tests start private instances on
# free ports, and a service on a default port would only cost memory.
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        pkg_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        note "apt-get not found; install these yourself: ${missing[*]}"
        return 0
    fi
    note "installing Debian packages: ${missing[*]}"
    if [ ! -e "$POLICY_RC_D" ]; then
        # Debian's documented switch for "do not start services from maintainer
        # scripts" (exit 101 = action forbidden); removed again below or on exit.
        trap remove_policy_rc_d EXIT
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$POLICY_RC_D && chmod 755 $POLICY_RC_D"
        CREATED_POLICY_RC_D=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
    if [ "$rc" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    fi
    remove_policy_rc_d
    [ "$rc" -eq 0 ] || die "apt-get failed ($rc) installing: ${missing[*]}"

    # Keep services of packages installed just now from starting at boot (and
    # stop them if something started them anyway). Services a developer set up
    # before are left alone.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        local units=()
        for pkg in "${missing[@]}"; do
            if systemctl list-unit-files "$pkg.service" >/dev/null 2>&1; then
                units+=("$pkg.service")
            fi
        done
        if [ "${#units[@]}" -gt 0 ]; then
            as_root systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
        fi
    fi
}

python_ok() { # python_ok PYTHON MAJOR MINOR: PYTHON runs and is >= MAJOR.MINOR
    "$1" -c "import sys; sys.exit(0 if sys.version_info >= ($2, $3) else 1)" >/dev/null 2>&1
}

# A Python >= 3.11 for the bridge: python3 if new enough, else the newest found.
find_python() {
    local candidate
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate" 3 11; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Python 3.13 for Home Assistant 2025.4: pyenv's if installed (even when pyenv
# is not on PATH), else python3.13 on PATH (Debian 13's /usr/bin/python3.13).
find_python313() {
    local root="" candidate
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root)"
    elif [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
        root="${PYENV_ROOT:-$HOME/.pyenv}"
    fi
    if [ -n "$root" ]; then
        local found=()
        shopt -s nullglob
        found=("$root"/versions/3.13.*/bin/python3)
        shopt -u nullglob
        # Newest 3.13.x first.
        while IFS= read -r candidate; do
            if [ -n "$candidate" ] &&
                "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
                echo "$candidate"
                return 0
            fi
        done < <(printf '%s\n' "${found[@]}" | sort -V -r)
    fi
    if command -v python3.13 >/dev/null 2>&1; then
        command -v python3.13
        return 0
    fi
    return 1
}

# Debian's own Pythons ship venv/ensurepip and headers as separate packages.
ensure_debian_python_support() { # PYTHON [dev]
    local python="$1" want_dev="${2:-}" version path
    path="$(readlink -f "$(command -v "$python")")"
    case "$path" in
    /usr/bin/python3*) ;;
    *) return 0 ;;
    esac
    version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    local pkgs=()
    "$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || pkgs+=("python${version}-venv")
    if [ -n "$want_dev" ]; then
        # Some of Home Assistant's pinned requirements have no wheel for 3.13 and
        # are compiled at install time.
        pkg_installed "python${version}-dev" || pkgs+=("python${version}-dev")
        command -v gcc >/dev/null 2>&1 || pkgs+=(gcc)
    fi
    if [ "${#pkgs[@]}" -gt 0 ]; then
        apt_install "${pkgs[@]}"
    fi
}

hash_files() {
    cat "$@" | sha256sum | cut -d' ' -f1
}

# make_venv DIR PYTHON STAMP PIP_ARGS...: (re)create DIR and pip install unless
# DIR/.wxstation-stamp already holds STAMP.
make_venv() {
    local dir="$1" python="$2" stamp="$3"
    shift 3
    local stamp_file="$dir/.wxstation-stamp"
    if [ -x "$dir/bin/python" ] && ! "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
        note "$dir is broken (its Python is gone); recreating it"
        rm -rf "$dir"
    fi
    if [ -x "$dir/bin/python" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
        note "$dir is up to date ($("$dir/bin/python" --version))"
        return 0
    fi
    if [ ! -x "$dir/bin/python" ]; then
        note "creating $dir with $python ($("$python" --version))"
        "$python" -m venv "$dir"
    fi
    rm -f "$stamp_file"
    note "installing into $dir: $*"
    "$dir/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q "$@"
    echo "$stamp" >"$stamp_file"
}


# library_files: the files the library's wheel is built from.
library_files() {
    find "$ROOT/library" -type f \( -name '*.py' -o -name py.typed -o -name VERSION \
        -o -name pyproject.toml -o -name README.md \) \
        -not -path '*/build/*' -not -path '*.egg-info/*' | LC_ALL=C sort
}

# The bridge's environment: .venv with the library installed from its wheel
# (pip builds it from library/; reinstalled whenever its files change, so the
# bridge and its tests use the library as users get it), the bridge editable,
# and the test tools.
bridge_venv() {
    local python stamp
    python="$(find_python)" || die "no Python >= 3.11 found (tried python3, python3.13, python3.12, python3.11)"
    ensure_debian_python_support "$python"
    # shellcheck disable=SC2046 # one word per file
    stamp="$(hash_files pyproject.toml setup.py $(library_files))-$("$python" --version 2>&1)"
    make_venv .venv "$python" "$stamp" ./library -e '.[test]'
}

# build_dist OUTDIR: the sdist and the wheel, built as the release workflow
# builds them (python -m build: the sdist, then the wheel from the sdist), with
# .venv's build. OUTDIR is emptied first.
build_dist() {
    local out="$1" log project
    rm -rf "$out"
    mkdir -p "$out"
    log="$(mktemp)"
    # The library (library/) and the bridge (the root), whose wheel pins it.
    for project in "$ROOT/library" "$ROOT"; do
        if ! "$ROOT/.venv/bin/python" -m build --outdir "$out" "$project" >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            die "python -m build $project failed"
        fi
    done
    rm -f "$log"
    note "built: $(cd "$out" && echo *)"
}

# manifest_requirement PYTHON: the integration's requirement on this project,
# as Home Assistant reads it from manifest.json (wxstation==<version>).
manifest_requirement() {
    "$1" - "$ROOT/custom_components/wxstation/manifest.json" <<'PY'
import json, sys
(req,) = [r for r in json.load(open(sys.argv[1]))["requirements"] if r.startswith("wxstation==")]
print(req)
PY
}

# ha_wheel_venv HA_VENV DEST DIST: DEST becomes a copy of the Home Assistant
# test venv HA_VENV in which the manifest's requirement is installed from the
# wheel in DIST, as Home Assistant installs it, in place of what HA_VENV has
# for the tests/ha run (the library's wheel of the checkout and the editable
# bridge, which the tests/ha helpers use; both are removed). pip installs
# without an index, so the wheel's dependencies must already be met by what
# Home Assistant's venv holds. Only HA_VENV's Python is used (not .venv), so
# this and ha_wheel_tests also run inside a root that holds a Home Assistant
# venv, given the tree at the same ROOT there and DIST built outside.
#
# The copy is of hard links where the file system allows (a second or a few,
# against 5 to 40 s for the 70,000 files of a Home Assistant venv): nothing
# writes into an existing file of the copy (pip removes and creates files,
# Python replaces a .pyc by renaming a new one over it), so HA_VENV's files,
# which the links share, stay as they were. A copy made from HA_VENV as it is
# now (same make_venv stamp) is kept and only gets the new wheel. Run things in
# the copy as DEST/bin/python -m ..., never DEST/bin/pip or another of its
# scripts: their #! lines still name HA_VENV's Python, so they act on HA_VENV.
ha_wheel_venv() {
    local src="$1" dest="$2" dist="$3" requirement
    requirement="$(manifest_requirement "$src/bin/python")"
    if [ -x "$dest/bin/python" ] && [ -f "$src/.wxstation-stamp" ] &&
        cmp -s "$src/.wxstation-stamp" "$dest/.wxstation-stamp"; then
        note "$dest: a copy of $src as it is now; replacing its wxstation"
    else
        rm -rf "$dest"
        mkdir -p "$(dirname "$dest")"
        if ! cp -al "$src" "$dest" 2>/dev/null; then
            rm -rf "$dest"
            cp -a "$src" "$dest"
        fi
    fi
    # Neither the library nor the bridge of the tests stays: only what the
    # manifest requires, from the wheel.
    "$dest/bin/python" -m pip uninstall --disable-pip-version-check -y -q wxstation wxstation-bridge
    "$dest/bin/python" -m pip install --disable-pip-version-check -q \
        --no-index --find-links "$dist" "$requirement"
    note "$dest: $requirement from $(cd "$dist" && echo *.whl)"
}

# ha_wheel_tests VENV WORK [PYTEST_ARGS...]: tests/ha_wheel in VENV (made by
# ha_wheel_venv), with custom_components/wxstation copied into WORK/config as
# a user installs it, run from WORK so that neither the working directory nor
# the repository is on sys.path. PIP_NO_INDEX makes any requirement Home
# Assistant finds missing fail the setup instead of being downloaded. The
# shared test helpers (tests/support) and the test vectors (tests/vectors, the
# station's packets, played without the bridge's simulator) are copied into
# WORK/helpers as the package `tests`, for the same reason.
ha_wheel_tests() {
    local venv work
    venv="$(cd "$1" && pwd)"
    mkdir -p "$2"
    work="$(cd "$2" && pwd)"
    shift 2
    rm -rf "$work/config"
    mkdir -p "$work/config/custom_components"
    cp -a "$ROOT/custom_components/wxstation" "$work/config/custom_components/"
    rm -rf "$work/helpers"
    mkdir -p "$work/helpers/tests"
    cp -a "$ROOT/tests/__init__.py" "$ROOT/tests/support" "$ROOT/tests/vectors" "$work/helpers/tests/"
    (
        cd "$work" || exit
        PYTHONPATH="$work/config:$work/helpers" PIP_NO_INDEX=1 "$venv/bin/python" -m pytest \
            -c "$ROOT/tests/ha_wheel/pytest.ini" \
            --rootdir "$ROOT/tests/ha_wheel" \
            --confcutdir "$ROOT/tests/ha_wheel" \
            -p no:sugar \
            -p no:cacheprovider \
            "$@" "$ROOT/tests/ha_wheel"
    )
}

# ha_plain_venv PYTHON DEST RELEASE: DEST becomes a venv that holds Home
# Assistant RELEASE and nothing else, installed as a user's `pip install
# homeassistant` under Home Assistant's own constraints (package_constraints.txt,
# which the release's wheel carries; read from it first, unpacked into DEST).
# tests/ha_plain measures in it what the project's wheels would add: none of
# the test venvs' extras are there to hide a dependency. Kept while PYTHON and
# RELEASE stay the same, else made anew (an upgrade in place would keep the
# old release's extra dependencies); only PYTHON is used, so this also runs
# inside the Home Assistant root.
ha_plain_venv() {
    local python="$1" dest="$2" release="$3" stamp download
    stamp="homeassistant==$release $("$python" --version 2>&1)"
    if [ -f "$dest/.wxstation-stamp" ] && [ "$(cat "$dest/.wxstation-stamp")" = "$stamp" ]; then
        note "$dest is up to date ($stamp)"
        return 0
    fi
    rm -rf "$dest"
    # The venv's pip, not PYTHON's: Debian's Pythons come without one.
    "$python" -m venv "$dest"
    download="$(mktemp -d)"
    "$dest/bin/python" -m pip download --disable-pip-version-check -q --no-deps \
        --dest "$download" "homeassistant==$release"
    "$python" - "$download"/homeassistant-*.whl "$dest/package_constraints.txt" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf, open(out, "wb") as f:
    f.write(zf.read("homeassistant/package_constraints.txt"))
PY
    make_venv "$dest" "$python" "$stamp" -c "$dest/package_constraints.txt" \
        --find-links "$download" "homeassistant==$release"
    rm -rf "$download"
    "$dest/bin/python" -m pip check --disable-pip-version-check
}
