print("proto-tools: run scripts/gen-proto.sh")
