#!/usr/bin/env bash
# The README's benchmark command: installs the packages building needs (safe to rerun), then runs
# `swift run -c release bench` with any arguments given, e.g. `scripts/bench.sh chunk --quick`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --packages-only
exec swift run -c release bench "$@"
