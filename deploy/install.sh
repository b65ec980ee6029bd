#!/usr/bin/env bash
# Install or update Tillmesh on this counter as the systemd service `tillmesh`.
#
#   sudo deploy/install.sh [--node C01] [--profile "POS Profile"] [--demo]
#                          [--wheelhouse DIR]
#
# Idempotent: run it again to update the code. Each run
#   1. creates the system user `tillmesh` (no login, no home) if it is missing,
#   2. creates /opt/tillmesh/.venv (root-owned, so the service cannot change its own code)
#      and installs this source tree into it (offline from --wheelhouse DIR if given),
#   3. installs the Debian packages the app needs to draw (deploy/app-packages.txt) and
#      runs `tillmesh ui --check`,
#   4. installs deploy/tillmesh.service as /etc/systemd/system/tillmesh.service,
#   5. runs `tillmesh init` as the service user only when /var/lib/tillmesh holds no
#      tillmesh.toml yet (an existing counter, its key and its data are never touched),
#   6. prints the next steps. It never starts, stops or restarts the service.
#
# The first admin's PIN for init (6-12 digits) comes from $TILLMESH_ADMIN_PIN or tillmesh's
# own prompt (--demo: the demo users, admin PIN 1234); it reaches tillmesh on standard
# input, never as an argument. Sourcing this file (tests do) defines functions only.

TILLMESH_USER="tillmesh"
PREFIX="/opt/tillmesh"
DATA_DIR="/var/lib/tillmesh"
UNIT_PATH="/etc/systemd/system/tillmesh.service"
MIN_PYTHON="3.11"

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

source_dir() {
    # The repository root: the parent of the directory holding this script.
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    dirname "$here"
}

find_python() {
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python not found; install Python $MIN_PYTHON or newer"
    "$python" -c "import sys, venv; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" \
        || die "$python is older than $MIN_PYTHON or lacks venv (apt install python3-venv)"
    echo "$python"
}

ensure_user() {
    if id -u "$TILLMESH_USER" >/dev/null 2>&1; then
        echo "user $TILLMESH_USER exists"
        return
    fi
    useradd --system --user-group --no-create-home --home-dir "$DATA_DIR" \
        --shell /usr/sbin/nologin --comment "Tillmesh counter node" "$TILLMESH_USER"
    echo "created system user $TILLMESH_USER"
}

install_code() {
    local src="$1" wheelhouse="$2" python
    python="$(find_python)"
    install -d -o root -g root -m 0755 "$PREFIX" "$PREFIX/deploy"
    if [[ ! -x "$PREFIX/.venv/bin/python" ]]; then
        "$python" -m venv "$PREFIX/.venv"
        echo "created $PREFIX/.venv"
    fi
    local pip=("$PREFIX/.venv/bin/python" -m pip install --quiet --upgrade)
    if [[ -n "$wheelhouse" ]]; then
        pip+=(--no-index --find-links "$wheelhouse")
    fi
    "${pip[@]}" "$src"
    install -o root -g root -m 0644 "$src/deploy/UPGRADING.md" \
        "$src/deploy/tillmesh.toml.example" "$src/deploy/tillmesh.service" "$PREFIX/deploy/"
    echo "installed tillmesh $("$PREFIX/.venv/bin/python" -c \
        'import importlib.metadata as m; print(m.version("tillmesh"))') into $PREFIX/.venv"
}

install_app_libraries() {
    # What Qt needs to draw the app on this counter's screen (xcb or wayland), then the
    # app's own check, so a missing library shows now and not at the first start.
    local src="$1" missing=() pkg
    while read -r pkg; do
        [[ -z "$pkg" || "$pkg" == \#* ]] && continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done < "$src/deploy/app-packages.txt"
    if [[ ${#missing[@]} -gt 0 ]]; then
        command -v apt-get >/dev/null || die "the app needs: ${missing[*]} (no apt-get here)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"
        echo "installed ${missing[*]}"
    fi
    "$PREFIX/.venv/bin/tillmesh" ui --check || die "the app cannot draw on this counter"
}

install_unit() {
    local src="$1"
    install -o root -g root -m 0644 "$src/deploy/tillmesh.service" "$UNIT_PATH"
    install -d -o "$TILLMESH_USER" -g "$TILLMESH_USER" -m 0700 "$DATA_DIR"
    systemctl daemon-reload
    systemctl enable tillmesh.service >/dev/null
    echo "installed and enabled $UNIT_PATH"
}

init_counter() {
    local node="$1" profile="$2" demo="$3" pin="${TILLMESH_ADMIN_PIN:-}"
    if [[ -e "$DATA_DIR/tillmesh.toml" ]]; then
        echo "$DATA_DIR already holds a counter; left as it is"
        return
    fi
    local init=(runuser -u "$TILLMESH_USER" -- "$PREFIX/.venv/bin/tillmesh" --data-dir "$DATA_DIR"
                init --node "$node" --profile "$profile")
    if [[ "$demo" == 1 ]]; then
        init+=(--demo)
        pin="${pin:-1234}"
    fi
    if [[ -n "$pin" ]]; then
        # printf is a bash builtin: the PIN is in no process's arguments (ps shows those)
        printf '%s\n' "$pin" | "${init[@]}"
    else
        [[ -t 0 ]] || die "no TILLMESH_ADMIN_PIN and no terminal to ask for the admin PIN"
        "${init[@]}"  # tillmesh asks for the PIN, twice, without echoing it
    fi
}

next_steps() {
    cat <<EOF

Next steps:
  systemctl start tillmesh          # or: systemctl restart tillmesh after an update
  journalctl -u tillmesh -f         # the node's log
  sudo -u $TILLMESH_USER $PREFIX/.venv/bin/tillmesh --data-dir $DATA_DIR status
Back up $DATA_DIR (it holds the database key in secrets/) before every update;
see $PREFIX/deploy/UPGRADING.md.
The database key and the counter's keys lie in plain text in $DATA_DIR/secrets: seal
them to this machine (systemd-creds, TPM2 where present), then restart the service:
  sudo $PREFIX/.venv/bin/tillmesh --data-dir $DATA_DIR seal --systemd
EOF
}

main() {
    set -euo pipefail
    local node="C01" profile="Demo POS" demo=0 wheelhouse=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --node) node="${2:?--node needs a counter code}"; shift 2 ;;
            --profile) profile="${2:?--profile needs a POS Profile name}"; shift 2 ;;
            --demo) demo=1; shift ;;
            --wheelhouse) wheelhouse="${2:?--wheelhouse needs a directory}"; shift 2 ;;
            -h | --help) usage; return 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
    done
    [[ "$(id -u)" == 0 ]] || die "run as root (sudo $0)"
    command -v systemctl >/dev/null || die "systemd is required"
    if systemctl is-active --quiet tillmesh.service; then
        die "tillmesh is running: stop it first (systemctl stop tillmesh; see deploy/UPGRADING.md)"
    fi
    local src
    src="$(source_dir)"
    [[ -f "$src/pyproject.toml" ]] || die "$src is not a Tillmesh source tree"
    ensure_user
    install_code "$src" "$wheelhouse"
    install_app_libraries "$src"
    install_unit "$src"
    init_counter "$node" "$profile" "$demo"
    next_steps
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
