#!/usr/bin/env bash
# Tillmesh developer entry point: `./dev.sh demo` sets everything up and starts a demo
# counter; `./dev.sh test` sets everything up and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    # Re-install only when pyproject.toml changed since the last install.
    if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
        "$VENV/bin/pip" install --quiet --upgrade pip
        "$VENV/bin/pip" install --quiet -e '.[test]'
        touch "$VENV/.installed"
    fi
    # Qt (the cashier app and its offscreen tests) needs a few system libraries that a
    # minimal Debian lacks; install them only when Qt cannot load.
    if ! QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c "import PySide6.QtGui" 2>/dev/null; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3
    fi
}

case "${1:-}" in
    demo)
        setup
        shift
        exec "$VENV/bin/tillmesh" demo "$@"
        ;;
    test)
        setup
        shift
        "$VENV/bin/ruff" check node replication ui lab tests tools
        "$VENV/bin/mypy"
        exec "$VENV/bin/pytest" -q "$@"
        ;;
    bench)
        setup
        shift
        exec "$VENV/bin/python" -m tests.bench "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | test | bench" >&2
        exit 2
        ;;
esac
