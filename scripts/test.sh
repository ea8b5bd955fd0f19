#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs the Swift tests and the integration suite.
#
#   scripts/test.sh                 everything except tests marked slow
#   scripts/test.sh --all           everything, slow (1–2 GiB chunks) included
#   scripts/test.sh -- -k health    extra arguments after -- go to pytest
#
# Environment: the integration suite starts its own cluster (`silo cluster up` in a temporary directory, and
# six nodes of its own for the gRPC tests) unless told to use running ones: API_BASE_URL (or SILO_ENDPOINT)
# with SILO_ACCESS_KEY and SILO_SECRET_KEY names a gateway (plus SILO_CLUSTER_DIR and SILO_DATABASE_URL for
# the tests that look at node directories or the database), STORAGE_NODES=host:port,... names nodes.
# SILO_BIN overrides the silo binary (default .build/debug/silo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

all=0
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --all) all=1 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; pytest_args+=("$@"); break ;;
        *) echo "test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

section() { printf '\n======== %s ========\n' "$*"; }

failed=()

section "setup"
bash scripts/setup.sh

section "swift build (debug, with tests)"
swift build --build-tests

section "swift test"
if ! swift test --skip-build; then
    failed+=("swift test")
fi

section "integration tests (pytest$([ $all -eq 1 ] && echo ', all markers' || echo ', not slow'))"
export SILO_BIN="${SILO_BIN:-$root/.build/debug/silo}"
marker_args=()
if [ $all -eq 0 ]; then
    marker_args=(-m "not slow")
fi
if ! (cd Tests/integration && .venv/bin/python -m pytest -v "${marker_args[@]}" ${pytest_args[@]+"${pytest_args[@]}"}); then
    failed+=("integration tests")
fi

section "summary"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all passed"
