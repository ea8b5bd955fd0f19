import Foundation
import GRPCCore
import Logging
import NIOCore
import SiloCore
import SiloMetadata
import SiloPlacement
import SiloStorage
import Synchronization

/// Restores every chunk to `replicaCount` good copies on `in` nodes, and moves chunks to the ring's owners
/// after nodes are added. DESIGN.md, "Self-healing".
///
/// Every gateway runs one; a lease in PostgreSQL (`leases`, renewed every batch) lets only one work at a
/// time, and another takes over within `repairLease` of its holder dying. A round:
/// 1. repair: chunks with fewer good copies than the replica count, fewest first (a copy is good on an
///    `in` node that is not lost and was not found bad) — copied from a readable copy to the next nodes of
///    the ring, the new replica set recorded in one transaction, dropped copies handed to GC;
/// 2. rebalance, when the set of `in` nodes changed since the last full pass: every chunk whose copies are
///    not on its ring owners is copied there, recorded, and its old copies handed to GC after the grace.
///
/// A copy streams from the source's GetChunk into each target's PutChunk (the node checks the recorded
/// CRC32C before it commits), `repairConcurrency` chunks at a time, paced to `repairBytesPerSecond`.
package final class RepairWorker: Sendable {
    let store: MetadataStore
    let nodes: NodeDirectory
    let limits: GatewayLimits
    let logger: Logger
    let metrics: GatewayMetrics?
    /// This worker's name in the lease table.
    package let holder: String
    private let state: Mutex<State>

    package static let leaseName = RepairReport.leaseName

    /// What the worker did so far and what it is doing: for `/metrics` and the status command.
    package struct Progress: Sendable, Equatable {
        package var holdsLease = false
        package var chunksRepaired: Int64 = 0
        package var chunksRebalanced: Int64 = 0
        package var chunksTrimmed: Int64 = 0
        package var bytesCopied: Int64 = 0
        package var copyFailures: Int64 = 0
        /// Chunks found short of good copies in the last query (at most a batch).
        package var lastBacklog: Int = 0
        package var rebalancePasses: Int64 = 0
        package var orphansRemoved: Int64 = 0
        package var orphanPasses: Int64 = 0
    }

    private struct State {
        var progress = Progress()
        /// Start of the current burst of copying and the bytes copied before it, for the reported rate.
        var burstStart: ContinuousClock.Instant?
        /// Whether the current burst is repair (true) or rebalance.
        var burstIsRepair = true
        /// Copy rate of the last finished burst of repair, and of rebalance.
        var lastRepairRate = 0.0
        var lastRebalanceRate = 0.0
        var bytesBeforeBurst: Int64 = 0
        /// The `in` nodes of the last completed rebalance pass; nil before one.
        var balancedMembers: [NodeID]?
        /// When the last orphan pass ended (or the lease was taken).
        var lastOrphanPass: ContinuousClock.Instant?
        var paceStart = ContinuousClock.now
        var pacedBytes: Int64 = 0

        /// Bytes per second copied since the current burst began (0 when idle).
        var burstRate: Double {
            guard let start = burstStart else { return 0 }
            let seconds = RepairWorker.seconds(ContinuousClock.now - start)
            return seconds > 0 ? Double(progress.bytesCopied - bytesBeforeBurst) / seconds : 0
        }

        /// Nothing left to copy: the burst's rate is kept as the last one of its kind.
        mutating func endBurst() {
            guard burstStart != nil else { return }
            if progress.bytesCopied > bytesBeforeBurst {
                if burstIsRepair { lastRepairRate = burstRate } else { lastRebalanceRate = burstRate }
            }
            burstStart = nil
        }
    }

    package init(store: MetadataStore, nodes: NodeDirectory, limits: GatewayLimits, logger: Logger,
                 metrics: GatewayMetrics? = nil, holder: String = UUID().uuidString) {
        self.store = store
        self.nodes = nodes
        self.limits = limits
        self.logger = logger
        self.metrics = metrics
        self.holder = holder
        self.state = Mutex(State())
    }

    package var progress: Progress { state.withLock { $0.progress } }

    /// Works rounds while it holds the lease, until cancelled; releases the lease on the way out.
    package func run() async {
        while !Task.isCancelled {
            do {
                if try await renewLease() { try await runRound() }
            } catch where !(error is CancellationError) {
                logger.warning("repair round failed", metadata: ["error": "\(error)"])
            } catch {}
            metrics?.refreshRepair(progress)
            try? await Task.sleep(for: limits.repairInterval)
        }
        if progress.holdsLease { try? await store.releaseLease(Self.leaseName, holder: holder) }
    }

    /// Takes or renews the lease; false when another gateway holds it.
    @discardableResult
    package func renewLease() async throws -> Bool {
        let holds = try await store.takeLease(Self.leaseName, holder: holder, for: limits.repairLease)
        let changed = state.withLock { state -> Bool in
            defer { state.progress.holdsLease = holds }
            if !holds {
                state.balancedMembers = nil
                state.lastOrphanPass = nil
            } else if state.lastOrphanPass == nil {
                state.lastOrphanPass = .now
            }
            return state.progress.holdsLease != holds
        }
        if changed { logger.notice(holds ? "this gateway runs repair" : "another gateway runs repair") }
        if holds { try? await store.reportLeaseProgress(Self.leaseName, holder: holder, progress: report().json) }
        return holds
    }

    /// The progress as the lease row carries it.
    package func report() -> RepairReport {
        state.withLock { state in
            let progress = state.progress
            let rate = state.burstRate
            var report = RepairReport(holder: holder, replicas: limits.replicaCount,
                          nodeLostAfterSeconds: limits.nodeLostAfter.components.seconds,
                          chunksRepaired: progress.chunksRepaired, chunksRebalanced: progress.chunksRebalanced,
                          chunksTrimmed: progress.chunksTrimmed, bytesCopied: progress.bytesCopied,
                          copyFailures: progress.copyFailures, bytesPerSecond: rate,
                          repairBytesPerSecondCap: limits.repairBytesPerSecond, rebalancePasses: progress.rebalancePasses,
                          orphansRemoved: progress.orphansRemoved)
            report.balancedNodes = state.balancedMembers?.map(\.value) ?? []
            report.lastRepairBytesPerSecond = state.lastRepairRate
            report.lastRebalanceBytesPerSecond = state.lastRebalanceRate
            return report
        }
    }

    /// One round (the caller holds the lease): repair until nothing short of copies is repairable, then a
    /// rebalance pass if membership changed since the last one.
    package func runRound() async throws {
        var unrepairable = Set<ChunkID>()
        try await repairAll(unrepairable: &unrepairable)
        try await store.retireStrayBadCopies(olderThan: limits.garbageGrace)
        if limits.rebalance, let view = nodes.repairView(lostAfter: limits.nodeLostAfter) {
            let members = view.ring.members.map(\.id)
            if state.withLock({ $0.balancedMembers }) != members, try await rebalancePass(unrepairable: &unrepairable) {
                state.withLock {
                    $0.balancedMembers = members
                    $0.progress.rebalancePasses += 1
                }
            }
        }
        let orphansDue = state.withLock { state in
            limits.orphanInterval > .zero && state.lastOrphanPass.map { .now - $0 >= limits.orphanInterval } == true
        }
        if orphansDue {
            try await reconcileOrphans()
            state.withLock {
                $0.lastOrphanPass = .now
                $0.progress.orphanPasses += 1
            }
        }
    }

    /// Removes, from every node that answers, the chunk files older than `orphanGrace` that no metadata
    /// names for that node: leaks of gateways that crashed mid-upload, of reaped uploads, of GC rounds a
    /// node was away for. Runs between repair rounds, so no copy of this worker is in flight; the grace
    /// covers everything else (an upload records its chunks before it sends a byte). Returns how many.
    @discardableResult
    package func reconcileOrphans() async throws -> Int {
        var removed = 0
        let cutoff = Date().addingTimeInterval(-Self.seconds(limits.orphanGrace))
        for member in nodes.members where member.state != .down {
            guard let client = nodes.client(for: member.record.id) else { continue }
            let listed = Mutex<[ChunkID]>([])
            do {
                try await client.listChunks { batch in
                    let old = batch.filter { $0.modified < cutoff }.map(\.id)
                    listed.withLock { $0.append(contentsOf: old) }
                }
            } catch {
                logger.warning("cannot list a node's chunks for orphan reconciliation", metadata: [
                    "node": "\(member.record.id)", "error": "\(error)"])
                continue
            }
            let candidates = listed.withLock { $0 }
            var index = 0
            while index < candidates.count, !Task.isCancelled {
                let slice = Array(candidates[index..<min(candidates.count, index + 1000)])
                index += slice.count
                for orphan in try await store.orphans(slice, on: member.record.id) {
                    do {
                        try await client.deleteChunk(id: orphan)
                        removed += 1
                    } catch {
                        logger.warning("cannot remove an orphan chunk", metadata: [
                            "node": "\(member.record.id)", "chunk": "\(orphan)", "error": "\(error)"])
                    }
                }
            }
        }
        if removed > 0 { logger.notice("orphan chunk files removed", metadata: ["files": "\(removed)"]) }
        state.withLock { $0.progress.orphansRemoved += Int64(removed) }
        return removed
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Repairs batches of chunks short of good copies until none is left that can be repaired now.
    private func repairAll(unrepairable: inout Set<ChunkID>) async throws {
        while !Task.isCancelled {
            guard let view = nodes.repairView(lostAfter: limits.nodeLostAfter) else { return }
            let good = view.nodes.filter(\.value.countsCopies).map(\.key).sorted()
            let batch = try await store.underReplicatedChunks(
                goodNodes: good, replicaCount: limits.replicaCount, excluding: Array(unrepairable.prefix(10_000)),
                limit: limits.repairBatchMax)
            state.withLock { state in
                state.progress.lastBacklog = batch.count
                if batch.isEmpty {
                    state.endBurst()
                } else if state.burstStart == nil {
                    state.burstStart = .now
                    state.burstIsRepair = true
                    state.bytesBeforeBurst = state.progress.bytesCopied
                }
            }
            if batch.isEmpty { return }
            let planner = RepairPlanner(ring: view.ring, replicaCount: limits.replicaCount, nodes: view.nodes,
                                        rebalance: false)
            var work: [(ChunkCopies, RepairPlan)] = []
            for chunk in batch {
                if let plan = planner.plan(chunk.chunkID, replicas: chunk.replicas, bad: Set(chunk.badReplicas)) {
                    work.append((chunk, plan))
                } else {
                    unrepairable.insert(chunk.chunkID)
                }
            }
            let failed = await execute(work)
            unrepairable.formUnion(failed)
            if work.isEmpty { continue }
            guard try await renewLease() else { return }
        }
    }

    /// Walks every chunk once, moving those not on their ring owners. Returns true when it walked them all.
    private func rebalancePass(unrepairable: inout Set<ChunkID>) async throws -> Bool {
        var after: ChunkID?
        var moved = 0
        while !Task.isCancelled {
            let batch = try await store.chunks(after: after, limit: limits.repairBatchMax)
            guard let last = batch.last else {
                if moved > 0 { logger.notice("rebalance pass done", metadata: ["chunks moved": "\(moved)"]) }
                return true
            }
            after = last.chunkID
            guard let view = nodes.repairView(lostAfter: limits.nodeLostAfter) else { return false }
            let planner = RepairPlanner(ring: view.ring, replicaCount: limits.replicaCount, nodes: view.nodes,
                                        rebalance: true)
            let work = batch.compactMap { chunk in
                planner.plan(chunk.chunkID, replicas: chunk.replicas).map { (chunk, $0) }
            }
            moved += work.count
            if !work.isEmpty {
                state.withLock { state in
                    if state.burstStart == nil {
                        state.burstStart = .now
                        state.burstIsRepair = false
                        state.bytesBeforeBurst = state.progress.bytesCopied
                    }
                }
            }
            _ = await execute(work)
            // Lost copies go before moves: repair between batches.
            try await repairAll(unrepairable: &unrepairable)
            guard try await renewLease() else { return false }
        }
        return false
    }

    /// Carries out `work`, `repairConcurrency` chunks at a time; returns the chunks that failed.
    private func execute(_ work: [(ChunkCopies, RepairPlan)]) async -> [ChunkID] {
        await withTaskGroup(of: ChunkID?.self) { group in
            var failed: [ChunkID] = []
            var running = 0
            for (chunk, plan) in work {
                if running == limits.repairConcurrency, let result = await group.next() {
                    running -= 1
                    if let result { failed.append(result) }
                }
                group.addTask { [self] in
                    do {
                        return try await carryOut(plan, for: chunk) ? nil : chunk.chunkID
                    } catch {
                        logger.warning("repair of a chunk failed", metadata: ["chunk": "\(chunk.chunkID)", "error": "\(error)"])
                        return chunk.chunkID
                    }
                }
                running += 1
            }
            for await result in group { if let result { failed.append(result) } }
            return failed
        }
    }

    /// Copies the chunk to the plan's targets, then records the new replica set. False when no target
    /// took a copy or the record was refused (its copies then go to GC).
    package func carryOut(_ plan: RepairPlan, for chunk: ChunkCopies) async throws -> Bool {
        var written: [NodeID] = []
        if !plan.targets.isEmpty {
            written = await copy(chunk, sources: plan.sources, targets: plan.targets)
            if written.isEmpty {
                state.withLock { $0.progress.copyFailures += 1 }
                return false
            }
        }
        var replicas = plan.replicas.filter { !plan.targets.contains($0) || written.contains($0) }
        if replicas.count < limits.replicaCount {
            // Some targets failed: keep every copy that is not bad beside the new ones.
            let bad = Set(chunk.badReplicas)
            replicas = chunk.replicas.filter { !bad.contains($0) }
            for id in written where !replicas.contains(id) { replicas.append(id) }
        }
        guard try await store.recordReplicas(of: chunk, replicas: replicas, added: written) else {
            try await store.enqueueGarbage(chunk.chunkID, on: written, reason: "repair copy not recorded")
            return false
        }
        state.withLock { state in
            switch plan.kind {
            case .repair: state.progress.chunksRepaired += 1
            case .rebalance: state.progress.chunksRebalanced += 1
            case .trim: state.progress.chunksTrimmed += 1
            }
        }
        metrics?.repairChunks.increment(by: 1)
        return true
    }

    /// Streams the chunk from the first source that delivers it whole to every target; returns the
    /// targets that committed it. A source whose copy fails its checks is reported bad.
    private func copy(_ chunk: ChunkCopies, sources: [NodeID], targets: [NodeID]) async -> [NodeID] {
        var remaining = targets
        var committed: [NodeID] = []
        for source in sources where !remaining.isEmpty {
            guard let reader = nodes.client(for: source) else { continue }
            let writers = remaining.compactMap { id in nodes.writer(for: id).map { (id, $0) } }
            let outcome = await stream(chunk, from: reader, sourceID: source, to: writers)
            committed += outcome.committed
            remaining.removeAll { outcome.committed.contains($0) || outcome.refused.contains($0) }
            if outcome.sourceFailed == nil { break }
        }
        if !committed.isEmpty {
            let bytes = chunk.length.bytes * Int64(committed.count)
            state.withLock { $0.progress.bytesCopied += bytes }
            metrics?.repairBytes.increment(by: bytes)
            await pace(bytes)
        }
        return committed
    }

    private struct StreamOutcome {
        var committed: [NodeID] = []
        /// Targets that refused the chunk for a reason of their own (they get no second try this round).
        var refused: [NodeID] = []
        var sourceFailed: (any Error)?
    }

    private func stream(_ chunk: ChunkCopies, from reader: NodeClient, sourceID: NodeID,
                        to writers: [(NodeID, NodeClient)]) async -> StreamOutcome {
        let feeds = writers.map { _ in BoundedFeed<ByteBuffer>(capacity: 8) }
        let crc = chunk.crc32c == 0 ? nil : chunk.crc32c
        return await withTaskGroup(of: (NodeID?, (any Error)?).self) { group in
            for ((id, writer), feed) in zip(writers, feeds) {
                group.addTask {
                    do {
                        _ = try await writer.putChunk(id: chunk.chunkID, size: chunk.length, crc32c: crc) { out in
                            var pieces = feed.makeAsyncIterator()
                            while let piece = try await pieces.next() { try await out.write([piece]) }
                        }
                        return (id, nil)
                    } catch {
                        feed.close()
                        return (id, error)
                    }
                }
            }
            group.addTask { [self] in
                do {
                    try await NodeStallWatch.run(node: sourceID, timeout: limits.nodeStallTimeout) { watch in
                        try await reader.getChunk(id: chunk.chunkID) { pieces in
                            var received: Int64 = 0
                            var check = CRC32C()
                            for try await piece in pieces {
                                watch.progressed()
                                if let size = piece.chunkSize, size != UInt64(chunk.length.bytes) {
                                    throw ChunkMismatch(node: sourceID, chunk: chunk.chunkID)
                                }
                                guard piece.bytes.count > 0 else { continue }
                                var buffer = ByteBufferAllocator().buffer(capacity: piece.bytes.count)
                                piece.bytes.withUnsafeBytes { bytes in
                                    buffer.writeBytes(bytes)
                                    check.update(bytes)
                                }
                                received += Int64(piece.bytes.count)
                                for feed in feeds { try? await watch.excluding { try await feed.send(buffer) } }
                            }
                            guard received == chunk.length.bytes, chunk.crc32c == 0 || check.value == chunk.crc32c else {
                                throw ChunkMismatch(node: sourceID, chunk: chunk.chunkID)
                            }
                        }
                    }
                    for feed in feeds { feed.finish() }
                    return (nil, nil)
                } catch {
                    for feed in feeds { feed.fail(error) }
                    return (nil, error)
                }
            }
            var outcome = StreamOutcome()
            var writeErrors: [(NodeID, any Error)] = []
            for await (id, error) in group {
                switch (id, error) {
                case (let id?, nil): outcome.committed.append(id)
                case (let id?, let error?): writeErrors.append((id, error))
                case (nil, let error?): outcome.sourceFailed = error
                case (nil, nil): break
                }
            }
            if let failure = outcome.sourceFailed {
                logger.warning("repair cannot read a chunk copy", metadata: [
                    "chunk": "\(chunk.chunkID)", "node": "\(sourceID)", "error": "\(failure)"])
                if Self.isBadCopy(failure) {
                    try? await store.reportBadCopy(chunk.chunkID, on: sourceID, reason: "repair read: \(failure)")
                }
            } else {
                for (id, error) in writeErrors {
                    outcome.refused.append(id)
                    logger.warning("repair cannot write a chunk copy", metadata: [
                        "chunk": "\(chunk.chunkID)", "node": "\(id)", "error": "\(error)"])
                }
            }
            return outcome
        }
    }

    /// A read error that means the copy itself is bad (not that the node is unreachable).
    package static func isBadCopy(_ error: any Error) -> Bool {
        if error is ChunkMismatch { return true }
        if let error = error as? RPCError { return error.code == .dataLoss || error.code == .notFound }
        return false
    }

    /// Sleeps long enough to keep the copy rate at or under `repairBytesPerSecond` (0: unpaced).
    private func pace(_ bytes: Int64) async {
        let rate = limits.repairBytesPerSecond
        guard rate > 0 else { return }
        let wait = state.withLock { state -> Duration in
            let now = ContinuousClock.now
            if now - state.paceStart > .seconds(10) {
                state.paceStart = now
                state.pacedBytes = 0
            }
            state.pacedBytes += bytes
            let due = state.paceStart + .nanoseconds(Int64(Double(state.pacedBytes) / Double(rate) * 1e9))
            return due > now ? due - now : .zero
        }
        if wait > .zero { try? await Task.sleep(for: wait) }
    }
}
