// swift-tools-version: 6.2
import PackageDescription

let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
let grpcHTTP2 = Target.Dependency.product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport")
let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioHTTP2 = Target.Dependency.product(name: "NIOHTTP2", package: "swift-nio-http2")

let package = Package(
    name: "Silo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "silo", targets: ["silo"]),
        .executable(name: "bench", targets: ["bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    ],
    targets: [
        // System libraries: module map + pkg-config, nothing else.
        .systemLibrary(name: "CLibURing", path: "Sources/CLibURing", pkgConfig: "liburing",
                       providers: [.apt(["liburing-dev"])]),
        .systemLibrary(name: "CNuma", path: "Sources/CNuma", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        // Only what Swift cannot import: CRC32C intrinsics, renameat2, fallocate, O_DIRECT.
        .target(name: "CSiloShims", path: "Sources/CSiloShims",
                cSettings: [.unsafeFlags(["-O2"])]),

        .target(name: "SiloCore", dependencies: ["CSiloShims"]),
        .target(name: "SiloIO", dependencies: ["SiloCore", "CLibURing", "CNuma", "CSiloShims", logging]),
        .target(name: "SiloProto", dependencies: [
            grpcCore, grpcProtobuf, .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["README.md"]),
        .target(name: "SiloStorage", dependencies: [
            "SiloCore", "SiloIO", "SiloProto", "CSiloShims", grpcCore, grpcHTTP2, grpcProtobuf, logging, nioCore, nioHTTP2,
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["FORMAT.md"]),
        .target(name: "SiloMetadata", dependencies: ["SiloCore", "CLibPQ"]),
        // Metadata and a node's HealthCheck too: `up` bootstraps the database and registers the nodes itself.
        .target(name: "SiloCluster", dependencies: [
            "SiloCore", "SiloMetadata", "SiloStorage", grpcCore, grpcHTTP2,
        ]),
        .target(name: "SiloPlacement", dependencies: ["SiloCore"]),
        // The S3 protocol, pure: signing, aws-chunked payloads, checksums, XML, header formats, error codes.
        // No HTTP server, no node, no database.
        .target(name: "SiloS3", dependencies: [
            "SiloCore", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The data path: upload/download pipelines, node directory, GC, janitor. Throws typed errors.
        .target(name: "SiloGateway", dependencies: [
            "SiloCore", "SiloS3", "SiloStorage", "SiloMetadata", "SiloPlacement",
            .product(name: "Crypto", package: "swift-crypto"), metrics, prometheus, logging,
            grpcCore, grpcHTTP2, grpcProtobuf, nioCore,
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        // The HTTP edge: router, responders, the one place typed errors become S3 XML.
        .target(name: "SiloHTTP", dependencies: [
            "SiloCore", "SiloS3", "SiloGateway", "SiloMetadata", "SiloPlacement",
            .product(name: "Crypto", package: "swift-crypto"), hummingbird, metrics, logging,
            grpcCore, nioCore, nioPosix, nioHTTP1,
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "silo", dependencies: [
            "SiloCore", "SiloIO", "SiloStorage", "SiloMetadata", "SiloGateway", "SiloHTTP", "SiloCluster", "SiloPlacement",
            argumentParser, logging, grpcHTTP2, hummingbird,
        ]),
        // The workbench: workloads, S3 client, report, gate in BenchKit; `bench` parses arguments only.
        .target(name: "BenchKit", dependencies: [
            "SiloCore", "SiloIO", "SiloProto", "SiloStorage", "SiloMetadata", "SiloCluster", "SiloS3",
            grpcCore, grpcHTTP2, logging, nioCore, nioPosix, nioHTTP1,
        ], path: "Benchmarks/BenchKit"),
        .executableTarget(name: "bench", dependencies: ["BenchKit", "SiloIO", argumentParser, logging],
                         path: "Benchmarks/bench"),

        .testTarget(name: "SiloCoreTests", dependencies: ["SiloCore"]),
        // Helpers shared by the test targets (a disk-backed scratch directory: O_DIRECT refuses tmpfs).
        .target(name: "SiloTestSupport", dependencies: ["SiloS3", "SiloCore", "SiloCluster", "SiloMetadata"],
                path: "Tests/SiloTestSupport"),
        // The gateway's data path over real parts in one process (PostgreSQL, nodes), for the gateway's and
        // the HTTP edge's tests.
        .target(name: "SiloGatewayTestSupport", dependencies: [
            "SiloGateway", "SiloS3", "SiloCore", "SiloTestSupport", "SiloMetadata", "SiloCluster", "SiloStorage", "SiloIO",
            grpcCore, grpcHTTP2, nioCore, logging, .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Tests/SiloGatewayTestSupport"),
        .testTarget(name: "SiloIOTests", dependencies: ["SiloIO", "SiloCore", "SiloTestSupport"]),
        .testTarget(name: "SiloStorageTests", dependencies: [
            "SiloStorage", "SiloIO", "SiloCore", "SiloProto", "SiloTestSupport", grpcCore, grpcProtobuf,
            .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
        ]),
        .testTarget(name: "SiloMetadataTests", dependencies: ["SiloMetadata", "SiloCluster", "SiloCore", "SiloTestSupport"]),
        .testTarget(name: "SiloPlacementTests", dependencies: ["SiloPlacement", "SiloCore"]),
        .testTarget(name: "SiloS3Tests", dependencies: [
            "SiloS3", "SiloCore", "SiloTestSupport", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "BenchKitTests", dependencies: ["BenchKit"]),
        .testTarget(name: "SiloGatewayTests", dependencies: [
            "SiloGateway", "SiloS3", "SiloCore", "SiloTestSupport", "SiloGatewayTestSupport", "SiloMetadata",
            "SiloCluster", "SiloStorage", "SiloIO",
            grpcCore, grpcHTTP2, nioCore, logging, .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "SiloHTTPTests", dependencies: [
            "SiloHTTP", "SiloGateway", "SiloS3", "SiloCore", "SiloTestSupport", "SiloGatewayTestSupport", "SiloMetadata",
            "SiloCluster",
            .product(name: "HummingbirdTesting", package: "hummingbird"), hummingbird, nioCore, logging,
        ]),
    ],
    swiftLanguageModes: [.v6]
)
