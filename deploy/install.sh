#!/usr/bin/env bash
# Install or update Tillmesh on this counter: the node as the systemd service `tillmesh`
# and, with --kiosk, the cashier's app full screen on the counter's display at boot.
#
#   sudo deploy/install.sh --first-counter [--node C01] [--profile "POS Profile"]
#                          [--timezone Europe/Berlin] [--demo]   the first counter of a store
#   sudo deploy/install.sh --join [CODE] --node C02 [--profile "POS Profile"]
#                                                                 one more counter of a store
#   sudo deploy/install.sh --restore FILE [--no-peers]            a counter whose disk died,
#                                                                 from its `tillmesh backup`
#   sudo deploy/install.sh                                        update this counter's code
#   options for each: [--kiosk] [--open-firewall] [--wheelhouse DIR] [--reinstall]
#
# --first-counter (`tillmesh init`: a new store), --join (`tillmesh join`: the store's
# POS Profile and time zone come from the inviting counter) or --restore (`tillmesh
# restore`: the counter of a backup, which then takes back from the other counters what it
# recorded after the backup before it sells) is needed once, on a machine with no counter yet; an existing counter, its keys and its data are never touched.
# Idempotent: run it again (with or without them) to update. Each run
#   1. checks that systemd runs and that the node is stopped,
#   2. creates the system user `tillmesh` (the node), the group `tillmesh-app` (who may
#      reach the node's local API socket) and adds `tillmesh` to `lp` and `dialout`
#      (receipt printers); with --kiosk the user `tillmesh-kiosk` too (the app, in
#      `tillmesh-app` only: it never reads the node's data dir),
#   3. installs this source tree as release V (its version) into /opt/tillmesh/releases/V,
#      a root-owned virtualenv with the `printer` extra (offline from --wheelhouse DIR,
#      which must hold the tillmesh-V wheel), points /opt/tillmesh/current at it (what it
#      pointed at becomes /opt/tillmesh/previous) and /usr/local/bin/tillmesh at
#      current/bin/tillmesh; an existing release V is kept unless --reinstall. An install
#      by the earlier install.sh (/opt/tillmesh/.venv) becomes `previous`, and is deleted
#      once a later release takes that place,
#   4. installs the Debian packages the node and the app need (deploy/node-packages.txt,
#      app-packages.txt; with --kiosk also kiosk-packages.txt), runs `tillmesh ui --check`,
#   5. installs the unit, /etc/tmpfiles.d/tillmesh.conf (/run/tillmesh: 2750 tillmesh,
#      group tillmesh-app, for the API socket), the udev rule for USB receipt printers and,
#      with --kiosk, the kiosk unit on tty1 and its PAM file; enables the units,
#   6. with --first-counter, --join or --restore on a machine without a counter, runs
#      `tillmesh init`, `join` (as the service user; a failed join leaves no data dir) or
#      `restore` (as root, to read a root-only backup file; the files go to the service user),
#   7. points the counter's API socket at /run/tillmesh/api.sock for group tillmesh-app
#      (api_socket, api_group in tillmesh.toml),
#   8. lists the ports the store uses and, with --open-firewall, opens them where nftables
#      (an `inet filter` table with an `input` chain) or ufw is active,
#   9. prints the next steps. It never starts, stops or restarts a service.
# The kiosk, once installed, stays on every later run; deploy/uninstall.sh removes it all.
#
# The first admin's PIN for init (6-12 digits) comes from $TILLMESH_ADMIN_PIN or tillmesh's
# own prompt (--demo: the demo users, admin PIN 1234); the invite code from --join CODE,
# $TILLMESH_INVITE_CODE or tillmesh's prompt; a backup's passphrase from tillmesh's prompt
# or the first line of standard input. They reach tillmesh on standard input, never
# as an argument. $PYTHON picks the interpreter (default python3; the service user must
# be able to run it: a pyenv Python under /root is refused with what to do).
#
# Tests: TILLMESH_ROOT=DIR installs into DIR as if it were / (DIR/opt, DIR/etc, DIR/var/lib,
# DIR/run, DIR/usr/local/bin; accounts in DIR/etc via useradd --prefix). Then systemctl
# only enables units (--root, no daemon-reload, nothing is asked whether it runs), no
# systemd check, no apt-get and no `ui --check`, no firewall, no udevadm; tillmesh init
# and join run as the caller and the data dir is then given to the service user's ids;
# TILLMESH_INSTALL_NO_DEPS=1 installs the tillmesh wheel without its dependencies, with
# $PYTHON's pip into a virtualenv without one of its own (no ensurepip: seconds saved),
# and TILLMESH_INSTALL_SITE=DIR makes DIR's packages importable (a .pth): no download.
# Sourcing this file (tests do) defines functions only.

R="${TILLMESH_ROOT:-}"  # the machine's / for every path below (empty: this machine)
R="${R%/}"
SERVICE_USER="tillmesh"
APP_GROUP="tillmesh-app"
KIOSK_USER="tillmesh-kiosk"
PRINTER_GROUPS=(lp dialout)  # USB (deploy/60-tillmesh-printer.rules, /dev/usb/lp*), serial
PREFIX="/opt/tillmesh"
DATA_DIR="/var/lib/tillmesh"
RUN_DIR="/run/tillmesh"
API_SOCKET="$RUN_DIR/api.sock"
KIOSK_HOME="/var/lib/tillmesh-kiosk"
BIN_LINK="/usr/local/bin/tillmesh"
UNIT_DIR="/etc/systemd/system"
UNIT="tillmesh.service"
KIOSK_UNIT="tillmesh-kiosk.service"
TMPFILES="/etc/tmpfiles.d/tillmesh.conf"
UDEV_RULE="/etc/udev/rules.d/60-tillmesh-printer.rules"
PAM_FILE="/etc/pam.d/tillmesh-kiosk"
ACCOUNTS="$PREFIX/accounts"  # the users and groups install.sh made (deploy/uninstall.sh)
MIN_PYTHON="3.11"
# What the store's counters use (node/ops/const.py, tillmesh.toml's listen, join_listen,
# mdns_port): port/protocol and what for.
PORTS=("7610/tcp replication between counters" "7611/tcp a new counter presenting its invite"
       "5353/udp mDNS: counters finding each other")
FIREWALL_TAG="tillmesh"  # the comment on every firewall rule install.sh adds

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {  # the comment block at the top
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

source_dir() {
    # The repository root: the parent of the directory holding this script.
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    dirname "$here"
}

# ---- accounts: this machine's (getent), or DIR/etc's with TILLMESH_ROOT -----------------

account_field() {  # account_field passwd|group NAME N: field N of its entry, empty if none
    if [[ -n "$R" ]]; then
        awk -F: -v name="$2" -v n="$3" '$1 == name { print $n }' "$R/etc/$1"
    else
        getent "$1" "$2" | cut -d: -f"$3"
    fi
}

account_id() { account_field "$1" "$2" 3; }  # account_id passwd|group NAME: uid or gid

group_members() { account_field group "$1" 4; }  # comma-separated

shadow_tool() {  # shadow_tool useradd|usermod|... ARGS: on DIR/etc with TILLMESH_ROOT
    local tool="$1" prefix=()
    shift
    [[ -z "$R" ]] || prefix=(--prefix "$R")
    "$tool" "${prefix[@]}" "$@"
}

record_account() {  # record_account user|group NAME: made by install.sh (uninstall.sh)
    grep -qx "$1 $2" "$R$ACCOUNTS" 2>/dev/null || echo "$1 $2" >>"$R$ACCOUNTS"
}

ensure_group() {
    if [[ -n "$(account_id group "$1")" ]]; then
        echo "group $1 exists"
        return
    fi
    shadow_tool groupadd --system "$1"
    record_account group "$1"
    echo "created group $1"
}

ensure_user() {  # ensure_user NAME HOME COMMENT
    if [[ -n "$(account_id passwd "$1")" ]]; then
        echo "user $1 exists"
        # made by an earlier run (whose list went with uninstall.sh) or the earlier install.sh
        [[ "$(account_field passwd "$1" 5)" != "$3" ]] || record_account user "$1"
        return
    fi
    shadow_tool useradd --system --user-group --no-create-home --home-dir "$2" \
        --shell /usr/sbin/nologin --comment "$3" "$1"
    record_account user "$1"
    echo "created system user $1"
}

ensure_member() {  # ensure_member USER GROUP
    [[ -n "$(account_id group "$2")" ]] || { echo "no group $2 here: $1 not added"; return; }
    if [[ ",$(group_members "$2")," == *",$1,"* ]]; then
        return
    fi
    shadow_tool usermod --append --groups "$2" "$1"
    echo "added $1 to group $2"
}

ids_of() {  # ids_of USER: "uid:gid" for chown and install -o/-g (names may not resolve)
    echo "$(account_id passwd "$1"):$(account_id group "$1")"
}

ensure_accounts() {
    local kiosk="$1"
    ensure_group "$APP_GROUP"
    ensure_user "$SERVICE_USER" "$DATA_DIR" "Tillmesh counter node"
    local group
    for group in "${PRINTER_GROUPS[@]}"; do
        ensure_member "$SERVICE_USER" "$group"
    done
    if [[ "$kiosk" == 1 ]]; then
        ensure_user "$KIOSK_USER" "$KIOSK_HOME" "Tillmesh cashier app (kiosk)"
        ensure_member "$KIOSK_USER" "$APP_GROUP"
        local ids
        ids="$(ids_of "$KIOSK_USER")"
        # Qt's and fontconfig's caches; nothing of the store is ever here
        install -d -o "${ids%:*}" -g "${ids#*:}" -m 0700 "$R$KIOSK_HOME"
    fi
}

# ---- Python and the release -------------------------------------------------------------

find_python() {
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python not found; install Python $MIN_PYTHON or newer"
    "$python" -c "import sys, venv; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" \
        || die "$python is older than $MIN_PYTHON or lacks venv (apt-get install python3-venv)"
    # The interpreter every release's virtualenv will run (through a pyenv shim, or a
    # virtualenv's own base): the file the service user must be able to execute.
    "$python" -c 'import os, sys; print(os.path.realpath(sys._base_executable))'
}

check_python_for() {  # check_python_for UID GID PYTHON: can that user run PYTHON?
    local as_user=(setpriv --reuid="$1" --regid="$2" --clear-groups --) out="Permission denied"
    if "${as_user[@]}" test -x "$3"; then  # every directory on the way searchable, too
        out="$("${as_user[@]}" "$3" -c '' 2>&1)" && return 0
    fi
    die "the service user $SERVICE_USER cannot run $3 (${out##*: }): a Python under" \
        "/root (pyenv, a virtualenv) or another private directory is root's alone." \
        "Use Debian's: apt-get install python3 python3-venv, then" \
        "PYTHON=/usr/bin/python3 $0 ..."
}

release_version() {  # release_version PYTHON SRC: the version in SRC/pyproject.toml
    "$1" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
        "$2/pyproject.toml"
}

release_complete() {  # release_complete DIR VERSION: pip finished installing VERSION there
    [[ -x "$1/bin/tillmesh" ]] && compgen -G "$1/lib/python3*/site-packages/tillmesh-$2.dist-info" \
        >/dev/null
}

build_release() {  # build_release PYTHON SRC VERSION DIR WHEELHOUSE; 1 on failure
    local python="$1" src="$2" version="$3" dir="$4" wheelhouse="$5" site
    local pip=("$R$dir/bin/python" -m pip) venv=("$python" -m venv)
    if [[ "${TILLMESH_INSTALL_NO_DEPS:-}" == 1 ]]; then  # tests: $PYTHON's pip, no ensurepip
        pip=("${PYTHON:-python3}" -m pip --python "$R$dir/bin/python")
        venv+=(--without-pip)
    fi
    "${venv[@]}" "$R$dir" || return 1
    pip+=(install --quiet --disable-pip-version-check)
    local what="${src}[printer]"
    if [[ -n "$wheelhouse" ]]; then
        pip+=(--no-index --find-links "$wheelhouse")
        what="tillmesh[printer]==$version"
    fi
    [[ "${TILLMESH_INSTALL_NO_DEPS:-}" != 1 ]] || pip+=(--no-deps)
    "${pip[@]}" "$what" || return 1
    if [[ -n "${TILLMESH_INSTALL_SITE:-}" ]]; then
        site="$("$R$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
            || return 1
        echo "$TILLMESH_INSTALL_SITE" >"$site/tillmesh-install-site.pth" || return 1
    fi
    release_complete "$R$dir" "$version"
}

set_link() {  # set_link NAME TARGET: $PREFIX/NAME -> TARGET, switched by one rename
    ln -sfn "$2" "$R$PREFIX/.$1.new"
    mv -T "$R$PREFIX/.$1.new" "$R$PREFIX/$1"
}

switch_release() {  # current -> releases/VERSION; what current was becomes previous
    local want="releases/$1" was
    was="$(readlink "$R$PREFIX/current" 2>/dev/null)" || was=""
    if [[ -z "$was" && -d "$R$PREFIX/.venv" ]]; then
        was=".venv"  # installed by the earlier install.sh: kept as the rollback target
    fi
    if [[ "$was" == "$want" ]]; then
        echo "$PREFIX/current -> $want (as it was)"
        return
    fi
    [[ -z "$was" ]] || set_link previous "$was"
    set_link current "$want"
    echo "$PREFIX/current -> $want${was:+; $PREFIX/previous -> $was}"
    local previous
    previous="$(readlink "$R$PREFIX/previous" 2>/dev/null)" || previous=""
    if [[ -d "$R$PREFIX/.venv" && "$previous" != .venv ]]; then
        rm -rf "$R$PREFIX/.venv"
        echo "removed the earlier install.sh's $PREFIX/.venv (no longer the previous release)"
    fi
}

install_code() {  # install_code SRC WHEELHOUSE REINSTALL
    local src="$1" wheelhouse="$2" reinstall="$3" python version dir
    python="$(find_python)"
    if [[ -z "$R" ]]; then
        local ids
        ids="$(ids_of "$SERVICE_USER")"
        check_python_for "${ids%:*}" "${ids#*:}" "$python"
    fi
    version="$(release_version "$python" "$src")"
    dir="$PREFIX/releases/$version"
    if [[ -n "$wheelhouse" ]] && ! compgen -G "$wheelhouse/tillmesh-$version-*.whl" >/dev/null; then
        die "$wheelhouse holds no tillmesh-$version wheel: make the wheelhouse with" \
            "\`pip wheel -w DIR '.[printer]'\` in this source tree on a machine with internet"
    fi
    install -d -o root -g root -m 0755 "$R$PREFIX" "$R$PREFIX/releases" "$R$PREFIX/deploy" \
        "$R$(dirname "$BIN_LINK")"
    if [[ "$reinstall" == 0 ]] && release_complete "$R$dir" "$version"; then
        echo "release $version is installed ($dir): kept (--reinstall to install it again)"
    else
        rm -rf "$R${dir:?}"  # a half-made one (an earlier run stopped) or --reinstall
        # Root-owned and read-only to the node: the service cannot change its own code.
        build_release "$python" "$src" "$version" "$dir" "$wheelhouse" || {
            rm -rf "$R${dir:?}"
            die "installing release $version into $dir failed (pip's message above)"
        }
        echo "installed tillmesh $version into $dir"
    fi
    switch_release "$version"
    ln -sfn "$PREFIX/current/bin/tillmesh" "$R$BIN_LINK"
    install -o root -g root -m 0644 "$src/deploy/UPGRADING.md" "$src/deploy/tillmesh.toml.example" \
        "$src/deploy/$UNIT" "$src/deploy/$KIOSK_UNIT" "$R$PREFIX/deploy/"
    install -o root -g root -m 0755 "$src/deploy/install.sh" "$src/deploy/uninstall.sh" \
        "$R$PREFIX/deploy/"
}

# ---- Debian packages and the app's check --------------------------------------------------

install_packages() {  # install_packages LIST...: what the lists name and dpkg lacks
    local missing=() pkg list
    if [[ -n "$R" ]]; then
        echo "TILLMESH_ROOT: no apt-get for the packages in ${*##*/}"
        return
    fi
    for list in "$@"; do
        while read -r pkg; do
            [[ -z "$pkg" || "$pkg" == \#* ]] && continue
            dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
                || missing+=("$pkg")
        done <"$list"
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        command -v apt-get >/dev/null || die "Tillmesh needs: ${missing[*]} (no apt-get here)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"
        echo "installed ${missing[*]}"
    fi
}

check_app() {  # what Qt needs to draw shows now, not at the first start
    local kiosk="$1"
    [[ -z "$R" ]] || return 0
    "$PREFIX/current/bin/tillmesh" ui --check || die "the app cannot draw on this counter"
    if [[ "$kiosk" == 1 ]]; then  # cage is a Wayland compositor: Qt's wayland plugin
        QT_QPA_PLATFORM=wayland "$PREFIX/current/bin/tillmesh" ui --check \
            || die "the app cannot draw in the kiosk (Wayland)"
    fi
}

# ---- systemd, tmpfiles, udev ----------------------------------------------------------------

enable_unit() {
    if [[ -n "$R" ]]; then
        systemctl --root="$R" --quiet enable "$1"
    else
        systemctl --quiet enable "$1"
    fi
}

install_unit() {  # install_unit SRC KIOSK
    local src="$1" kiosk="$2" node app
    node="$(ids_of "$SERVICE_USER")"
    app="$(account_id group "$APP_GROUP")"
    install -d -o root -g root -m 0755 "$R$UNIT_DIR" "$R$(dirname "$TMPFILES")" \
        "$R$(dirname "$UDEV_RULE")"
    install -o root -g root -m 0644 "$src/deploy/$UNIT" "$R$UNIT_DIR/$UNIT"
    install -o root -g root -m 0644 "$src/deploy/tillmesh.tmpfiles" "$R$TMPFILES"
    install -o root -g root -m 0644 "$src/deploy/60-tillmesh-printer.rules" "$R$UDEV_RULE"
    # As systemd-tmpfiles makes them at every boot (deploy/tillmesh.tmpfiles): the API
    # socket's directory, whose setgid bit gives the socket the group tillmesh-app, and
    # the node's lock, so that a `tillmesh rebuild` as root cannot make it root's.
    install -d -o "${node%:*}" -g "$app" -m 2750 "$R$RUN_DIR"
    [[ -e "$R$RUN_DIR/api.sock.lock" ]] \
        || install -o "${node%:*}" -g "${node#*:}" -m 0600 /dev/null "$R$RUN_DIR/api.sock.lock"
    install -d -o "${node%:*}" -g "${node#*:}" -m 0700 "$R$DATA_DIR"
    if [[ "$kiosk" == 1 ]]; then
        install -d -o root -g root -m 0755 "$R$(dirname "$PAM_FILE")"
        install -o root -g root -m 0644 "$src/deploy/$KIOSK_UNIT" "$R$UNIT_DIR/$KIOSK_UNIT"
        install -o root -g root -m 0644 "$src/deploy/tillmesh-kiosk.pam" "$R$PAM_FILE"
    fi
    [[ -n "$R" ]] || systemctl daemon-reload
    enable_unit "$UNIT"
    echo "installed and enabled $UNIT_DIR/$UNIT"
    if [[ "$kiosk" == 1 ]]; then
        enable_unit "$KIOSK_UNIT"
        echo "installed and enabled $UNIT_DIR/$KIOSK_UNIT: the app on tty1 at boot"
    fi
    if [[ -z "$R" && -e /run/udev/control ]]; then  # udevd runs: apply to printers plugged in
        udevadm control --reload
        udevadm trigger --subsystem-match=usb --action=change
    fi
}

# ---- the counter ----------------------------------------------------------------------------

as_service_user() {  # tillmesh --data-dir DATA_DIR ARGS as the service user
    if [[ -n "$R" ]]; then
        "$R$PREFIX/current/bin/tillmesh" --data-dir "$R$DATA_DIR" "$@"
    else
        runuser -u "$SERVICE_USER" -- "$PREFIX/current/bin/tillmesh" --data-dir "$DATA_DIR" "$@"
    fi
}

give_data_dir() {  # TILLMESH_ROOT: what ran as the caller becomes the service user's
    [[ -z "$R" ]] || chown -R "$(ids_of "$SERVICE_USER")" "$R$DATA_DIR"
}

init_counter() {  # init_counter NODE PROFILE DEMO [TIMEZONE]
    local node="$1" profile="$2" demo="$3" timezone="${4:-}" pin="${TILLMESH_ADMIN_PIN:-}"
    local init=(init --node "$node")
    [[ -z "$profile" ]] || init+=(--profile "$profile")
    [[ -z "$timezone" ]] || init+=(--timezone "$timezone")
    if [[ "$demo" == 1 ]]; then
        init+=(--demo)
        pin="${pin:-1234}"
    fi
    if [[ -n "$pin" ]]; then
        # printf is a bash builtin: the PIN is in no process's arguments (ps shows those)
        printf '%s\n' "$pin" | as_service_user "${init[@]}"
    else
        as_service_user "${init[@]}"  # tillmesh asks for the PIN, twice, without echoing it
    fi
    give_data_dir
}

join_counter() {  # join_counter NODE PROFILE CODE: exits with tillmesh's status on failure
    local node="$1" profile="$2" code="${3:-${TILLMESH_INVITE_CODE:-}}" rc=0
    local join=(join --node "$node")
    [[ -z "$profile" ]] || join+=(--profile "$profile")
    if [[ -n "$code" ]]; then
        printf '%s\n' "$code" | as_service_user "${join[@]}" || rc=$?
    else
        as_service_user "${join[@]}" || rc=$?  # tillmesh asks for the code
    fi
    if [[ "$rc" != 0 ]]; then
        # tillmesh said why on stderr and removed what it made; the empty directory
        # install.sh made goes too, so the machine is as before and the retry is clean
        [[ -e "$R$DATA_DIR/tillmesh.toml" ]] || rmdir "$R$DATA_DIR" 2>/dev/null || true
        echo "the join failed (see tillmesh's line); $DATA_DIR was left as before: run" \
             "install.sh --join again with a valid code"
        exit "$rc"
    fi
    give_data_dir
}

restore_counter() {  # restore_counter FILE NO_PEERS: exits with tillmesh's status on failure
    local restore=(restore "$1") rc=0
    [[ "$2" == 0 ]] || restore+=(--no-peers)
    # As root: the backup is usually root's alone. tillmesh gives what it writes to the
    # data dir's owner, and a restore that fails leaves the (empty) data dir as it was.
    "$R$PREFIX/current/bin/tillmesh" --data-dir "$R$DATA_DIR" "${restore[@]}" || rc=$?
    if [[ "$rc" != 0 ]]; then
        echo "the restore failed (see tillmesh's line); $DATA_DIR was left empty: run" \
             "install.sh --restore again"
        exit "$rc"
    fi
    give_data_dir
}

configure_counter() {  # the counter's API socket in $RUN_DIR, for group $APP_GROUP
    # As the service user: root never writes in its directory, where it may plant a link.
    local python=("$R$PREFIX/current/bin/python")
    [[ -n "$R" ]] || python=(runuser -u "$SERVICE_USER" -- "${python[@]}")
    "${python[@]}" - "$R$DATA_DIR" "$API_SOCKET" "$APP_GROUP" <<'PY'
import json, os, re, sys
from pathlib import Path

from tillmesh.node.errors import ConfigError
from tillmesh.node.ops.config import CONFIG_NAME, load


def main() -> None:
    os.umask(0o077)  # the new file is never readable by others, not even for a moment
    data_dir = Path(sys.argv[1])
    path = data_dir / CONFIG_NAME
    before = path.read_text()
    lines = before.splitlines()
    top = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    changed = []
    for key, value in (("api_socket", sys.argv[2]), ("api_group", sys.argv[3])):
        want = f"{key} = {json.dumps(value)}"  # a JSON string is a TOML basic string
        at = next((i for i in range(top) if re.match(rf"{key}\s*=", lines[i])), None)
        if at is None:
            lines.insert(top, want)
            top += 1
        elif lines[at] != want:
            lines[at] = want
        else:
            continue
        changed.append(want)
    if changed:
        st = path.stat()
        new = path.with_name(CONFIG_NAME + ".install")
        new.write_text("\n".join(lines) + "\n")
        os.chmod(new, st.st_mode & 0o777)
        os.replace(new, path)
        try:
            load(data_dir)  # the node's own reading: refused settings never stay
        except Exception:
            path.write_text(before)
            raise
        print(f"{path}: {', '.join(changed)}")


try:
    main()
except (OSError, ConfigError) as exc:  # one line, like every tillmesh error
    sys.exit(f"install.sh: {getattr(exc, 'message', exc)}")
PY
    give_data_dir
}

# ---- ports ----------------------------------------------------------------------------------

nft_ready() {  # an nftables `inet filter` table with an `input` chain is loaded
    command -v nft >/dev/null && nft list chain inet filter input >/dev/null 2>&1
}

ufw_ready() {
    command -v ufw >/dev/null && ufw status 2>/dev/null | grep -q '^Status: active'
}

open_ports() {  # open_ports OPEN: list the ports; with OPEN=1 open them where possible
    local open="$1" entry port
    echo
    echo "Ports the store uses (every counter, on the store's LAN):"
    for entry in "${PORTS[@]}"; do
        echo "  ${entry%% *}  ${entry#* }"
    done
    if [[ "$open" != 1 ]]; then
        echo "Open them in the firewall, if there is one (or: install.sh --open-firewall)."
        return
    fi
    if [[ -n "$R" ]]; then
        echo "TILLMESH_ROOT: no firewall changed"
    elif nft_ready; then
        for entry in "${PORTS[@]}"; do
            port="${entry%% *}"
            nft list chain inet filter input | grep -q "comment \"$FIREWALL_TAG $port\"" \
                && continue
            # insert: ahead of a final drop or reject rule
            nft insert rule inet filter input "${port#*/}" dport "${port%/*}" accept \
                comment "\"$FIREWALL_TAG $port\""
        done
        echo "nftables: accepted in inet filter input (the running ruleset; to keep them after"
        echo "a reboot, add the same rules to /etc/nftables.conf: nft list chain inet filter input)"
    elif ufw_ready; then
        for entry in "${PORTS[@]}"; do
            ufw allow "${entry%% *}" comment "$FIREWALL_TAG ${entry%% *}" >/dev/null
        done
        echo "ufw: allowed (kept across reboots)"
    else
        echo "no active nftables inet filter input chain and no active ufw: nothing opened"
    fi
}

# ---- main -----------------------------------------------------------------------------------

next_steps() {
    local kiosk="$1" tm="sudo -u $SERVICE_USER tillmesh"
    cat <<EOF

Next steps:
  systemctl start tillmesh       # after an update: systemctl restart tillmesh
  journalctl -u tillmesh -f      # the node's log
  $tm status   # what the store holds (JSON)
Link this counter to ERPNext (the API secret is asked; see \`tillmesh erpnext --help\`):
  $tm erpnext setup --url https://erp.example.com --key KEY
Users: log in to the app as the first admin; Admin adds cashiers and supervisors and sets
their PINs. One more counter: \`$tm invite --user admin\` here prints a code; on
the new machine: sudo deploy/install.sh --join --node C02 (it asks for the code).
EOF
    if [[ "$kiosk" == 1 ]]; then
        echo "Kiosk: the app starts on tty1 at boot as $KIOSK_USER (now: systemctl start $KIOSK_UNIT)."
    else
        echo "The app: install.sh --kiosk starts it full screen on tty1 at boot, as a user of its own."
    fi
    cat <<EOF
Back up $DATA_DIR (it holds the database key in secrets/) before every update;
see $PREFIX/deploy/UPGRADING.md. The keys lie in plain text in $DATA_DIR/secrets: seal
them to this machine (systemd-creds, TPM2 where present), then restart the service:
  sudo tillmesh --data-dir $DATA_DIR seal --systemd
EOF
}

preflight() {
    [[ "$(id -u)" == 0 ]] || die "run as root (sudo $0)"
    [[ -z "$R" || "$R" == /* ]] || die "TILLMESH_ROOT must be an absolute path"
    if [[ -z "$R" ]]; then
        [[ -z "${TILLMESH_INSTALL_NO_DEPS:-}${TILLMESH_INSTALL_SITE:-}" ]] \
            || die "TILLMESH_INSTALL_NO_DEPS and TILLMESH_INSTALL_SITE are for TILLMESH_ROOT tests"
        command -v systemctl >/dev/null || die "systemd is required (no systemctl here)"
        [[ -d /run/systemd/system ]] || die "systemd is not running here (PID 1 is" \
            "$(cat /proc/1/comm 2>/dev/null || echo unknown)): the node runs as a systemd" \
            "service; install on a Debian booted with systemd (in a container: systemd as PID 1)"
        if systemctl is-active --quiet "$UNIT"; then
            die "tillmesh is running: stop it first (systemctl stop tillmesh; see deploy/UPGRADING.md)"
        fi
    fi
}

main() {
    set -euo pipefail
    umask 022  # releases and units readable by all: the service user runs the code
    local mode="" node="" profile="" timezone="" demo=0 wheelhouse="" code=""
    local kiosk=0 firewall=0 reinstall=0 backup="" no_peers=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --first-counter) mode="${mode:+both}${mode:-init}"; shift ;;
            --join)
                mode="${mode:+both}${mode:-join}"
                if [[ $# -gt 1 && "$2" != -* ]]; then code="$2"; shift; fi
                shift ;;
            --restore)
                mode="${mode:+both}${mode:-restore}"
                backup="$(realpath "${2:?--restore needs the backup file}")"; shift 2 ;;
            --no-peers) no_peers=1; shift ;;
            --node) node="${2:?--node needs a counter code}"; shift 2 ;;
            --profile) profile="${2:?--profile needs a POS Profile name}"; shift 2 ;;
            --timezone) timezone="${2:?--timezone needs a time zone, e.g. Europe/Berlin}"; shift 2 ;;
            --demo) demo=1; shift ;;
            --wheelhouse) wheelhouse="$(realpath "${2:?--wheelhouse needs a directory}")"; shift 2 ;;
            --kiosk) kiosk=1; shift ;;
            --open-firewall) firewall=1; shift ;;
            --reinstall) reinstall=1; shift ;;
            -h | --help) usage; return 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
    done
    [[ "$mode" != both* ]] || die "one of --first-counter, --join and --restore, not two"
    [[ "$no_peers" == 0 || "$mode" == restore ]] || die "--no-peers goes with --restore"
    [[ "$mode" != restore || -z "$node$profile$timezone" ]] \
        || die "--restore brings back the backup's counter, profile and time zone: no --node," \
               "--profile or --timezone"
    [[ "$mode" != restore || -f "$backup" ]] || die "--restore $backup: no such file"
    [[ "$demo" == 0 || "$mode" == init ]] || die "--demo goes with --first-counter"
    [[ -n "$node" || "$mode" != join ]] || die "--join needs --node: this counter's code, e.g. C02"
    [[ -z "$timezone" || "$mode" == init ]] \
        || die "--timezone goes with --first-counter (a joining counter takes the store's)"
    [[ -z "$wheelhouse" || -d "$wheelhouse" ]] || die "--wheelhouse $wheelhouse is no directory"
    preflight
    local src
    src="$(source_dir)"
    [[ -f "$src/pyproject.toml" ]] || die "$src is not a Tillmesh source tree"
    local have_counter=0
    [[ ! -e "$R$DATA_DIR/tillmesh.toml" ]] || have_counter=1
    if [[ "$have_counter" == 0 && -z "$mode" ]]; then
        die "no counter on this machine yet: give --first-counter (a new store)," \
            "--join CODE --node C02 (one more counter of a store) or --restore FILE" \
            "(a counter from its backup; see --help)"
    fi
    if [[ "$have_counter" == 0 && ! -t 0 ]]; then  # say it now, before anything changes
        [[ "$mode" != init || "$demo" == 1 || -n "${TILLMESH_ADMIN_PIN:-}" ]] \
            || die "no TILLMESH_ADMIN_PIN and no terminal to ask for the admin PIN"
        [[ "$mode" != join || -n "$code${TILLMESH_INVITE_CODE:-}" ]] \
            || die "no invite code: give --join CODE or \$TILLMESH_INVITE_CODE"
    fi
    [[ ! -e "$R$UNIT_DIR/$KIOSK_UNIT" ]] || kiosk=1  # once installed, kept up to date
    install -d -o root -g root -m 0755 "$R$PREFIX"
    ensure_accounts "$kiosk"
    install_code "$src" "$wheelhouse" "$reinstall"
    local lists=("$src/deploy/node-packages.txt" "$src/deploy/app-packages.txt")
    [[ "$kiosk" == 0 ]] || lists+=("$src/deploy/kiosk-packages.txt")
    install_packages "${lists[@]}"
    check_app "$kiosk"
    install_unit "$src" "$kiosk"
    if [[ "$have_counter" == 1 ]]; then
        echo "$DATA_DIR already holds a counter; left as it is"
    elif [[ "$mode" == init ]]; then
        init_counter "${node:-C01}" "$profile" "$demo" "$timezone"
    elif [[ "$mode" == restore ]]; then
        restore_counter "$backup" "$no_peers"
    else
        join_counter "$node" "$profile" "$code"
    fi
    configure_counter
    open_ports "$firewall"
    next_steps "$kiosk"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
