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
    # Each counter process a test starts imports some 200 of the project's modules; where
    # PYTHONDONTWRITEBYTECODE is set (it is on this kind of machine) every process would
    # compile them all again, half a second each. Compiled once here; Python compiles a
    # file changed since in memory, so a stale one is never used.
    "$VENV/bin/python" -m compileall -q -j 0 node replication ui lab tools tests >/dev/null
    # Qt needs a few system libraries a minimal Debian lacks, the same ones an installed
    # counter gets (deploy/app-packages.txt). The app's tests also run it in a real X
    # server: Xvfb, openbox as the window manager, xdotool to type and touch, xprop to see
    # the window manager is up. install.sh's --open-firewall is tried on a real nftables
    # ruleset in a network namespace (nftables, iproute2). The install scripts are held to
    # shellcheck (without it that test would skip, as it did in CI). The fault suite puts
    # each counter's data dir on an ext4 image of its own (e2fsprogs, mount) and gives it
    # a wrong clock with a small C library it builds (gcc, libc6-dev). The benchmark counts
    # the instructions of a sale with valgrind (its small run is one of the tests).
    local wanted
    mapfile -t wanted < <(grep -v '^#' deploy/app-packages.txt)
    wanted+=(xvfb openbox xdotool x11-utils nftables iproute2 shellcheck e2fsprogs mount gcc
             libc6-dev valgrind)
    local missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"
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
        # Two workers, this machine kind's two cores: most tests wait on the counters they
        # start, so one process kept the cores 40 % busy (19.5 min; 10.6 min on two). A
        # module's tests stay on one worker: its module fixtures (a store of 100,000
        # items, a cluster, the X servers) start once, as they do in one process.
        exec "$VENV/bin/pytest" -q -n 2 --dist loadscope "$@"
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
