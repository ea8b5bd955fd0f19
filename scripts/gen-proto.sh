#!/usr/bin/env bash
# Regenerates Sources/SiloProto from Protos/. The output is committed: run this only when a .proto changes.
#
#   scripts/gen-proto.sh           regenerate Sources/SiloProto
#   scripts/gen-proto.sh --check   generate into a temporary directory and fail when it differs from the
#                                  committed code (scripts/test.sh runs this when protoc is installed)
#
# The plugins protoc-gen-swift and protoc-gen-grpc-swift-2 are built from the main package's own
# dependencies (the same swift-protobuf and grpc-swift-protobuf versions the code is compiled against),
# in the debug configuration the tests build anyway: about a minute the first time. Building them by
# product name never puts them in a normal build of Silo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "gen-proto.sh: unknown argument: $1" >&2; exit 2 ;;
esac

command -v protoc >/dev/null || bash "$root/scripts/setup.sh" --packages-only
cd "$root"
swift build --product protoc-gen-swift
swift build --product protoc-gen-grpc-swift-2
bin=$(swift build --show-bin-path)

committed="$root/Sources/SiloProto"
if [ $check -eq 1 ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
else
    out="$committed"
    rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
    mkdir -p "$out"
fi

cd "$root/Protos"
protos=$(find . -name '*.proto' | sed 's|^\./||' | sort)
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
       --swift_out="$out" --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
       $protos
protoc --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
       --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public --grpc-swift_opt=FileNaming=DropPath \
       $protos

if [ $check -eq 1 ]; then
    if ! diff -r --exclude=README.md "$committed" "$out" >/dev/null; then
        diff -r --exclude=README.md "$committed" "$out" | head -40 >&2 || true
        echo "gen-proto.sh: Sources/SiloProto differs from what Protos/ generates: run scripts/gen-proto.sh and commit" >&2
        exit 1
    fi
    echo "gen-proto.sh: Sources/SiloProto matches Protos/ ($(ls "$out" | tr '\n' ' '))"
else
    echo "generated: $(ls "$out")"
fi
