// swift-tools-version:6.0
// Builds the two protoc plugins that scripts/gen-proto.sh runs. Kept apart from the main package so the
// product build never compiles them (SwiftPM's build plugins would also compile protoc's C++).
import PackageDescription

let package = Package(
    name: "proto-tools",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: [
        // SwiftPM needs one target of the package's own to build dependency products by name.
        .executableTarget(name: "proto-tools-placeholder", path: "Placeholder"),
    ]
)
