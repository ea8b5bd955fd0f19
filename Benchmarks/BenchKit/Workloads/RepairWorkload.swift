import Foundation
import SiloCluster
import SiloCore
import SiloMetadata
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Self-healing on a throwaway six-node R=2 cluster whose gateway repairs without a rate cap:
///
/// - `repair.MBps`: write `dataBytes`, kill -9 a node and delete its data, mark it `out` (as an operator
///   would for a dead machine, so repair starts without waiting for `--node-lost-after`); the bytes that
///   had a copy on it over the time the worker spent copying them (its own measure, in the lease row). Compare with
///   `chunk.put.1stream` of the same run (the goal: at least half);
/// - `repair.seconds`: from the kill to full redundancy, the gateways noticing included;
/// - `repair.client.get_MBps` / `repair.client.put_MBps`: one client's GET and PUT throughput while repair
///   runs, beside `…baseline_MBps`, the same loops before the node died;
/// - `rebalance.moved_percent` / `rebalance.seconds`: before that, a seventh node joins the six; the share
///   of the stored bytes copied to it (goal ≤ 1/7 + 5 % ≈ 19.3 %) and how long the rebalance pass took.
///
/// One round: each figure needs a cluster filled and broken anew.
struct RepairWorkload: Workload {
    static let name = "repair"
    static let replicas = 2
    static let bucket = "repair"

    struct Sizes {
        var objects: Int
        var objectBytes: Int
        var loadSeconds: Double

        static func of(_ scale: RunScale) -> Sizes {
            switch scale {
            case .full: Sizes(objects: 32, objectBytes: 64 << 20, loadSeconds: 10)
            case .quick: Sizes(objects: 16, objectBytes: 32 << 20, loadSeconds: 4)
            case .smoke: Sizes(objects: 4, objectBytes: 4 << 20, loadSeconds: 1)
            }
        }
    }

    static let repairRate = FigureSpec(name: "repair.MBps", unit: .megabytesPerSecond, target: nil, better: .higher,
                                       limitedBy: [.diskWrite, .loopbackTCP], replicas: replicas)
    static let repairTime = FigureSpec(name: "repair.seconds", unit: .seconds, target: nil, better: .lower,
                                       limitedBy: [], replicas: replicas)
    static let getBaseline = FigureSpec(name: "repair.client.get_baseline_MBps", unit: .megabytesPerSecond, target: nil,
                                        better: .higher, limitedBy: [], replicas: replicas, concurrency: 1)
    static let putBaseline = FigureSpec(name: "repair.client.put_baseline_MBps", unit: .megabytesPerSecond, target: nil,
                                        better: .higher, limitedBy: [], replicas: replicas, concurrency: 1)
    static let getDuring = FigureSpec(name: "repair.client.get_MBps", unit: .megabytesPerSecond, target: nil,
                                      better: .higher, limitedBy: [], replicas: replicas, concurrency: 1)
    static let putDuring = FigureSpec(name: "repair.client.put_MBps", unit: .megabytesPerSecond, target: nil,
                                      better: .higher, limitedBy: [], replicas: replicas, concurrency: 1)
    static let moved = FigureSpec(name: "rebalance.moved_percent", unit: .percent, target: nil,
                                  goal: (1.0 / 7 + 0.05) * 100, better: .lower, limitedBy: [], replicas: replicas)
    static let rebalanceTime = FigureSpec(name: "rebalance.seconds", unit: .seconds, target: nil, better: .lower,
                                          limitedBy: [], replicas: replicas)

    init() {}

    func run(_ context: WorkloadContext) async throws -> WorkloadOutcome {
        let sizes = Sizes.of(context.scale)
        let arguments = ["--repair-bytes-per-second", "0", "--gc-grace-seconds", "1"]
        let figures = try await ThrowawayCluster.withCluster(context, replicas: Self.replicas, gatewayArguments: arguments,
                                                             name: "cluster-repair") { cluster in
            let store = try await MetadataStore.open(DatabaseConfiguration(connectionString: cluster.databaseURL,
                                                                           applicationName: "silo-bench"))
            do {
                let figures = try await measure(cluster, store: store, sizes: sizes, context: context)
                await store.shutdown()
                return figures
            } catch {
                await store.shutdown()
                throw error
            }
        }
        return WorkloadOutcome(figures: figures)
    }

    private func measure(_ cluster: ThrowawayCluster, store: MetadataStore, sizes: Sizes,
                         context: WorkloadContext) async throws -> [MeasuredFigure] {
        let client = S3Client(endpoint: cluster.endpoint, credentials: cluster.credentials)
        defer { Task { await client.close() } }
        let pattern = BodyPattern()
        try await client.createBucket(Self.bucket)
        Progress.line("repair: writing \(sizes.objects) objects of \(ByteCount(Int64(sizes.objectBytes)))")
        for index in 0..<sizes.objects {
            try await client.putObject(bucket: Self.bucket, key: "data-\(index)", pattern: pattern, bytes: sizes.objectBytes)
        }
        var figures: [MeasuredFigure] = []
        func record(_ spec: FigureSpec, _ value: Double) {
            Progress.line("\(spec.name) … \(Format.value(value)) \(spec.unit.rawValue)")
            figures.append(MeasuredFigure(spec: spec, samples: [value]))
        }

        let load = ClientLoad(cluster: cluster, pattern: pattern, sizes: sizes)
        let baseline = try await load.run(until: ContinuousClock.now + .seconds(sizes.loadSeconds))
        record(Self.getBaseline, baseline.getMBps)
        record(Self.putBaseline, baseline.putMBps)

        // A seventh node joins the six, once the worker's first pass over the six is done.
        let six = Set(try await store.nodes().map(\.id.value))
        let waitStart = ContinuousClock.now
        while Set(try await Self.report(store)?.balancedNodes ?? []) != six {
            if ContinuousClock.now - waitStart > .seconds(600) { throw BenchError("no rebalance pass in 10 minutes") }
            try await Task.sleep(for: .milliseconds(200))
        }
        let before = try await Self.replicaSets(store)
        let joined = try await JoiningNode.start(cluster, context: context, store: store)
        defer { joined.stop() }
        let joinedAt = ContinuousClock.now
        while !(try await Self.report(store)?.balancedNodes ?? []).contains(joined.id.value) {
            if ContinuousClock.now - joinedAt > .seconds(600) { throw BenchError("no rebalance pass in 10 minutes") }
            try await Task.sleep(for: .milliseconds(200))
        }
        let rebalanceSeconds = (ContinuousClock.now - joinedAt).seconds
        let after = try await Self.replicaSets(store)
        var movedBytes: Int64 = 0
        var storedBytes: Int64 = 0
        for (chunk, (length, nodes)) in before {
            storedBytes += length * Int64(nodes.count)
            if let now = after[chunk] { movedBytes += length * Int64(now.nodes.subtracting(nodes).count) }
        }
        record(Self.moved, storedBytes == 0 ? 0 : Double(movedBytes) / Double(storedBytes) * 100)
        record(Self.rebalanceTime, rebalanceSeconds)

        // A node of the seven dies with its disk.
        let layout = ClusterLayout(directory: cluster.directory)
        let nodes = try await store.nodes()
        let number = 1
        guard let pid = LocalCluster(directory: cluster.directory).runningProcesses().first(where: { $0.name == "node-\(number)" })?.pid,
              let idText = ProcessControl.arguments(of: pid).flatMap({ ProcessControl.value(of: "--node-id", in: $0) }),
              let victim = nodes.first(where: { $0.id.value == idText })
        else { throw BenchError("the repair workload found no node to kill") }
        let good = nodes.filter { $0.id != victim.id }.map(\.id)
        kill(pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: layout.nodeDataDirectory(number))
        try await store.setMembership(victim.id, .out)
        let lost = try await store.redundancy(goodNodes: good, replicaCount: Self.replicas)
        Progress.line("repair: killed \(victim.id) and deleted its data: \(lost.underReplicated.chunks) chunks "
                      + "(\(ByteCount(lost.bytesToCopy))) to copy")
        let started = ContinuousClock.now
        let done = LoadStop()
        async let during = load.run(until: nil, stop: done)
        while true {
            let report = try await store.redundancy(goodNodes: good, replicaCount: Self.replicas)
            if report.underReplicated.chunks == 0 { break }
            if ContinuousClock.now - started > .seconds(600) {
                done.stop()
                _ = try await during
                throw BenchError("repair did not finish in 10 minutes: \(report.underReplicated.chunks) chunks left")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let finished = ContinuousClock.now
        done.stop()
        let duringLoad = try await during
        record(Self.repairTime, (finished - started).seconds)
        // The worker's own measure, from the query that found the work to the one that found none: the
        // time before it is the gateways noticing the node's state (table refresh, the worker's interval).
        var rate = 0.0
        while rate == 0 {
            rate = try await Self.report(store)?.lastRepairBytesPerSecond ?? 0
            if ContinuousClock.now - finished > .seconds(30) { throw BenchError("the repair worker reported no rate") }
            if rate == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        record(Self.repairRate, rate / 1e6)
        record(Self.getDuring, duringLoad.getMBps)
        record(Self.putDuring, duringLoad.putMBps)

        return figures
    }

    static func replicaSets(_ store: MetadataStore) async throws -> [ChunkID: (length: Int64, nodes: Set<NodeID>)] {
        var sets: [ChunkID: (length: Int64, nodes: Set<NodeID>)] = [:]
        var after: ChunkID?
        while true {
            let batch = try await store.chunks(after: after, limit: 1000)
            guard let last = batch.last else { return sets }
            for chunk in batch { sets[chunk.chunkID] = (chunk.length.bytes, Set(chunk.replicas)) }
            after = last.chunkID
        }
    }

    static func report(_ store: MetadataStore) async throws -> RepairReport? {
        RepairReport.decode(try await store.lease(RepairReport.leaseName)?.progress)
    }
}

/// Tells a `ClientLoad` to end its loops.
private final class LoadStop: Sendable {
    private let stopped = Mutex(false)
    func stop() { stopped.withLock { $0 = true } }
    var isStopped: Bool { stopped.withLock { $0 } }
}

/// One client's GET and PUT loops (one connection each) over the workload's objects.
private struct ClientLoad: Sendable {
    let cluster: ThrowawayCluster
    let pattern: BodyPattern
    let sizes: RepairWorkload.Sizes

    struct Result: Sendable {
        var getMBps: Double
        var putMBps: Double
    }

    /// Runs until `deadline`, or until `stop` is told to.
    func run(until deadline: ContinuousClock.Instant?, stop: LoadStop = LoadStop()) async throws -> Result {
        let started = ContinuousClock.now
        let control = LoadControl(deadline: deadline, stop: stop)
        async let got = getLoop(control)
        async let put = putLoop(control)
        let (getBytes, putBytes) = try await (got, put)
        let retried = control.retries
        if retried > 0 { Progress.line("repair: \(retried) client request(s) failed and were retried") }
        let seconds = max((ContinuousClock.now - started).seconds, 1e-3)
        return Result(getMBps: Double(getBytes) / seconds / 1e6, putMBps: Double(putBytes) / seconds / 1e6)
    }

    private func getLoop(_ control: LoadControl) async throws -> Int {
        let client = S3Client(endpoint: cluster.endpoint, credentials: cluster.credentials)
        var bytes = 0
        var index = 0
        while control.going {
            do {
                bytes += try await client.getObject(bucket: RepairWorkload.bucket, key: "data-\(index % sizes.objects)").bytes
                index += 1
            } catch {
                // As an SDK would: a request that met the dying node is retried, on a new connection.
                try await control.retry(after: error, client)
            }
        }
        await client.close()
        return bytes
    }

    private func putLoop(_ control: LoadControl) async throws -> Int {
        let client = S3Client(endpoint: cluster.endpoint, credentials: cluster.credentials)
        let objectBytes = min(sizes.objectBytes, 16 << 20)
        var bytes = 0
        var index = 0
        while control.going {
            do {
                try await client.putObject(bucket: RepairWorkload.bucket, key: "load-\(index % 8)", pattern: pattern,
                                           bytes: objectBytes)
                bytes += objectBytes
                index += 1
            } catch {
                try await control.retry(after: error, client)
            }
        }
        await client.close()
        return bytes
    }
}

/// When a `ClientLoad` stops, and how many of its requests failed and were retried (at most 50).
private final class LoadControl: Sendable {
    let deadline: ContinuousClock.Instant?
    let stop: LoadStop
    private let failures = Mutex(0)

    init(deadline: ContinuousClock.Instant?, stop: LoadStop) {
        self.deadline = deadline
        self.stop = stop
    }

    var going: Bool {
        if let deadline, ContinuousClock.now >= deadline { return false }
        return !stop.isStopped
    }

    var retries: Int { failures.withLock { $0 } }

    func retry(after error: any Error, _ client: S3Client) async throws {
        let count = failures.withLock { count -> Int in
            count += 1
            return count
        }
        if count > 50 { throw error }
        await client.close()
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// The seventh node of the rebalance figure: a `silo node` started beside the cluster's and registered in
/// its node table; stopped (and its data removed with the cluster's directory) afterwards.
private struct JoiningNode: Sendable {
    let id: NodeID
    let pid: pid_t
    let teardown: Int

    static func start(_ cluster: ThrowawayCluster, context: WorkloadContext, store: MetadataStore) async throws -> JoiningNode {
        let layout = ClusterLayout(directory: cluster.directory)
        let port = try NetworkProbe.freePort()
        let data = layout.nodeDataDirectory(7)
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let id = try NodeID("joined-7")
        var arguments = [context.nodeBinary, "node", "--data-dir", data, "--listen", "127.0.0.1:\(port)",
                         "--node-id", id.value]
        if let backend = context.ioBackend { arguments += ["--io-backend", backend.rawValue] }
        let pid = try ChildProcess.spawn(arguments, .init(output: .file(layout.logsDirectory + "/node-7.log", append: false)))
        let teardown = InterruptTeardown.register { _ = ProcessControl.terminate([pid], grace: .seconds(5)) }
        let node = JoiningNode(id: id, pid: pid, teardown: teardown)
        try await store.addNode(NodeRecord(id: id, address: "127.0.0.1:\(port)", capacity: .zero, free: .zero))
        Progress.line("rebalance: node \(id) joined on port \(port)")
        return node
    }

    func stop() {
        _ = ProcessControl.terminate([pid], grace: .seconds(5))
        InterruptTeardown.unregister(teardown)
    }
}
