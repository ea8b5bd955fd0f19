import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Throughput against concurrency (1, 4, 16, 64 clients) and object size (4 KiB, 1 MiB, 16 MiB, 1 GiB):
/// `scaling.put.<size>.c<clients>` and `scaling.get.<size>.c<clients>`, MB/s of all clients together, each
/// client one connection working through its share of the cell's objects one at a time. The charts
/// (`results/scaling-*.svg`) are drawn from these.
///
/// A cell moves about `cellBytes` each way (at least one object per client, at most `objectsMax`
/// objects), so small sizes are bounded by count and large ones by bytes. A cell whose clients would hold
/// more than `inFlightBytesMax` at once (64 × 1 GiB) is skipped and named in the report's notes. Objects
/// are deleted after every round, so the disk holds at most one cell's objects. None is gated: in repeated
/// quick runs their ratios moved by 20–240 % (README, "The bench gate").
struct ScalingWorkload: S3Workload {
    static let name = "scaling"
    static let concurrencies = [1, 4, 16, 64]
    static let objectSizes = [4 << 10, 1 << 20, 16 << 20, 1 << 30]

    static func siloReplicas(default replicas: Int) -> [Int] { [replicas] }

    struct Sizes {
        var objectSizes: [Int]
        var cellBytes: Int
        var objectsMax: Int
        var inFlightBytesMax: Int

        static func of(_ scale: RunScale) -> Sizes {
            switch scale {
            case .full: Sizes(objectSizes: ScalingWorkload.objectSizes, cellBytes: 1 << 30, objectsMax: 500, inFlightBytesMax: 4 << 30)
            // 1 GiB objects would take most of the three minutes CI gives the quick run: full runs only.
            case .quick: Sizes(objectSizes: Array(ScalingWorkload.objectSizes.prefix(3)), cellBytes: 32 << 20,
                               objectsMax: 32, inFlightBytesMax: 128 << 20)
            case .smoke: Sizes(objectSizes: Array(ScalingWorkload.objectSizes.prefix(2)), cellBytes: 4 << 20, objectsMax: 32,
                               inFlightBytesMax: 16 << 20)
            }
        }

        /// Objects per round in a cell: a multiple of `clients`, so every client does the same work.
        func objects(size: Int, clients: Int) -> Int {
            let wanted = max(1, min(objectsMax, cellBytes / size))
            return (wanted + clients - 1) / clients * clients
        }

        var cells: [(size: Int, clients: Int)] {
            objectSizes.flatMap { size in ScalingWorkload.concurrencies.map { (size: size, clients: $0) } }
                .filter { $0.size * $0.clients <= inFlightBytesMax }
        }

        var skipped: [(size: Int, clients: Int)] {
            ScalingWorkload.objectSizes.flatMap { size in ScalingWorkload.concurrencies.map { (size: size, clients: $0) } }
                .filter { cell in !cells.contains { $0.size == cell.size && $0.clients == cell.clients } }
        }
    }

    static func specs(size: Int, clients: Int, on system: S3System) -> (put: FigureSpec, get: FigureSpec) {
        func spec(_ operation: String, _ limits: [CalibrationFigure]) -> FigureSpec {
            FigureSpec(name: "scaling.\(operation).\(Format.size(size)).c\(clients)", unit: .megabytesPerSecond,
                       target: nil, goal: nil, better: .higher, limitedBy: limits)
                .on(system).sized(objectBytes: size, concurrency: clients)
        }
        return (spec("put", [.loopbackTCP, .diskWrite]), spec("get", [.loopbackTCP, .diskRead]))
    }

    /// Why cells were left out, for the report's notes.
    static func notes(_ scale: RunScale) -> [String] {
        let sizes = Sizes.of(scale)
        let skipped = sizes.skipped.map { "\(Format.size($0.size)) × \($0.clients)" }
        guard !skipped.isEmpty else { return [] }
        return ["scaling: skipped \(skipped.joined(separator: ", ")) (objects × clients in flight over "
                + "\(Format.size(sizes.inFlightBytesMax)) in a \(scale.rawValue) run)"]
    }

    init() {}

    func run(_ context: WorkloadContext, systems: [S3System]) async throws -> [MeasuredFigure] {
        let sizes = Sizes.of(context.scale)
        let recorder = FigureRecorder()
        let pattern = BodyPattern()
        let bucket = "bench-scaling-\(getpid())"
        for system in systems { try await S3Load.withClient(system) { try await $0.createBucket(bucket) } }
        for cell in sizes.cells {
            let count = sizes.objects(size: cell.size, clients: cell.clients)
            let bytes = cell.size
            let expectedCRC = pattern.checksum(bytes: bytes)
            try await S3Systems.interleaved(
                "scaling \(Format.size(bytes)) × \(cell.clients)", systems: systems, rounds: context.rounds,
                setUp: { system in try await S3Load.connected(system, count: cell.clients) },
                round: { system, clients, round in
                    let specs = Self.specs(size: bytes, clients: cell.clients, on: system)
                    let keys = (0..<count).map { "\(bytes)/c\(clients.count)/r\(round.number)/\($0)" }
                    let put = try await S3Load.spread(keys, over: clients) { client, key in
                        try await client.putObject(bucket: bucket, key: key, pattern: pattern, bytes: bytes)
                    }
                    recorder.record(specs.put, megabytesPerSecond(bytes: bytes * count, in: put.wall), in: round)
                    let crc: UInt32? = round.isWarmUp ? expectedCRC : nil
                    let get = try await S3Load.spread(keys, over: clients) { client, key in
                        try await E2ERun.download(client, bucket: bucket, key: key, bytes: bytes, crc: crc)
                    }
                    recorder.record(specs.get, megabytesPerSecond(bytes: bytes * count, in: get.wall), in: round)
                    try await S3Load.spread(keys, over: clients) { client, key in
                        try await client.deleteObject(bucket: bucket, key: key)
                    }
                },
                tearDown: { _, clients in await S3Load.close(clients) })
        }
        for system in systems where !system.isSilo {
            try await S3Load.withClient(system) { try await $0.deleteBucket(bucket) }
        }
        return systems.flatMap { system in
            sizes.cells.flatMap { cell in
                let specs = Self.specs(size: cell.size, clients: cell.clients, on: system)
                return recorder.figures([specs.put, specs.get])
            }
        }
    }
}
