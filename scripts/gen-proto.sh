#!/usr/bin/env bash
# Regenerates Sources/SiloProto from Protos/. The output is committed: run this only when a .proto changes.
# Builds protoc-gen-swift and protoc-gen-grpc-swift-2 once (scripts/proto-tools, scratch .build-proto-tools)
# and runs Debian's protoc with them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/scripts/proto-tools"
scratch="$root/.build-proto-tools"

command -v protoc >/dev/null || "$root/scripts/setup.sh"
swift build -c release --package-path "$tools" --scratch-path "$scratch" \
    --product protoc-gen-swift
swift build -c release --package-path "$tools" --scratch-path "$scratch" \
    --product protoc-gen-grpc-swift-2
bin=$(swift build -c release --package-path "$tools" --scratch-path "$scratch" --show-bin-path)

out="$root/Sources/SiloProto"
rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
mkdir -p "$out"
cd "$root/Protos"
protos=$(find . -name '*.proto' | sed 's|^\./||' | sort)
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
       --swift_out="$out" --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
       $protos
protoc --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
       --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public --grpc-swift_opt=FileNaming=DropPath \
       $protos
echo "generated: $(ls "$out")"
