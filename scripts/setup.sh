#!/usr/bin/env bash
# One-command set-up for a fresh Debian bookworm machine with Python 3.11.
# Idempotent: a second run checks and returns in seconds.
#   - Debian packages: installed when run as root, otherwise the exact apt line is printed.
#   - .venv: the project (editable) with its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iverilog swtpm swtpm-tools tpm2-tools libtss2-dev pkg-config dataset-fashion-mnist z3 gcc make)
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.setup-stamp

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "setup: missing Debian packages. Run as root:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

# ASIC estimate (`make asic`): OSU's 0.18 µm standard cells from the Debian package
# qflow-tech-osu018, unpacked into .cache/osu018 (apt-get download + dpkg -x: no install, no root).
OSU018_LIB=.cache/osu018/usr/share/qflow/tech/osu018/osu018_stdcells.lib
if [[ ! -f $OSU018_LIB ]]; then
    echo "setup: fetching qflow-tech-osu018 (Liberty for make asic) into .cache/osu018"
    osu_tmp=$(mktemp -d)
    if ! (cd "$osu_tmp" && apt-get download qflow-tech-osu018 >/dev/null 2>&1); then
        rm -rf "$osu_tmp"
        echo "setup: 'apt-get download qflow-tech-osu018' failed (no network or no package" \
             "index: run 'sudo apt-get update')" >&2
        exit 1
    fi
    mkdir -p .cache/osu018
    dpkg -x "$osu_tmp"/qflow-tech-osu018_*.deb .cache/osu018
    rm -rf "$osu_tmp"
fi

# Re-install only when the project's dependency list changed since the last set-up.
want=$(sha256sum pyproject.toml setup.py host/*.c | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && $(cat "$STAMP") == "$want" && -x $VENV/bin/python ]]; then
    exit 0
fi
if [[ ! -x $VENV/bin/python ]]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "setup: installing the project and its pinned dependencies into $VENV (first time: a few minutes)"
"$VENV/bin/pip" install -q --upgrade pip
# torch first, pinned, so that no later dependency can resolve a different (CUDA) build.
"$VENV/bin/pip" install -q "torch==2.13.0"
"$VENV/bin/pip" install -q -e .
echo "$want" > "$STAMP"
echo "setup: done"
