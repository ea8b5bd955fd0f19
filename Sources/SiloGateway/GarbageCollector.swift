import GRPCCore
import Logging
import SiloCore
import SiloMetadata

/// Deletes the chunks in the GC queue from their replicas, and turns abandoned pending uploads into GC
/// work (the janitor). Every gateway runs one; `FOR UPDATE SKIP LOCKED` claims keep them apart.
///
/// A chunk is acknowledged (removed from the queue) once every replica no longer has it: deleted now,
/// NOT_FOUND (never written, or deleted before), or on a node the table no longer has. A replica that
/// cannot be reached keeps the chunk in the queue; its lease runs out and a later round tries again.
package struct GarbageCollector: Sendable {
    let store: MetadataStore
    let nodes: NodeDirectory
    let limits: GatewayLimits
    let logger: Logger

    package init(store: MetadataStore, nodes: NodeDirectory, limits: GatewayLimits, logger: Logger) {
        self.store = store
        self.nodes = nodes
        self.limits = limits
        self.logger = logger
    }

    /// Runs the GC worker and the janitor until cancelled.
    package func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await collectLoop() }
            group.addTask { await janitorLoop() }
            await group.waitForAll()
        }
    }

    private func collectLoop() async {
        while !Task.isCancelled {
            var claimed = 0
            do {
                claimed = try await collectOnce()
            } catch {
                logger.warning("GC round failed", metadata: ["error": "\(error)"])
            }
            if claimed < limits.garbageBatchMax {
                try? await Task.sleep(for: limits.garbageInterval)
            }
        }
    }

    /// Claims one batch and deletes what it can; returns how many chunks were claimed.
    @discardableResult
    package func collectOnce() async throws -> Int {
        let batch = try await store.claimGarbage(count: limits.garbageBatchMax, lease: limits.garbageLease,
                                                 grace: limits.garbageGrace)
        guard !batch.isEmpty else { return 0 }
        let done = await withTaskGroup(of: Int64?.self) { group in
            for chunk in batch {
                group.addTask { await delete(chunk) ? chunk.gcID : nil }
            }
            var done: [Int64] = []
            for await id in group { if let id { done.append(id) } }
            return done
        }
        if !done.isEmpty { try await store.acknowledgeGarbage(done) }
        return batch.count
    }

    /// Deletes `chunk` from each replica; true when none holds it any more.
    private func delete(_ chunk: GarbageChunk) async -> Bool {
        var options = CallOptions.defaults
        options.timeout = limits.nodeProbeTimeout
        var gone = true
        for node in chunk.replicas {
            guard let client = nodes.client(for: node) else { continue }
            do {
                try await client.deleteChunk(id: chunk.chunkID, options: options)
            } catch let error as RPCError where error.code == .notFound {
                continue
            } catch {
                gone = false
                if chunk.attempts <= 3 || chunk.attempts % 100 == 0 {
                    logger.notice("cannot delete a chunk yet", metadata: [
                        "chunk": "\(chunk.chunkID)", "node": "\(node)", "attempts": "\(chunk.attempts)", "error": "\(error)"])
                }
            }
        }
        return gone
    }

    /// One janitor round: up to a batch of abandoned pending uploads (single objects and parts) and one of
    /// multipart uploads older than `abandonedMultipartUploadAge`, all turned into GC work.
    @discardableResult
    package func reapOnce() async throws -> (pending: Int, multipart: Int) {
        let pending = try await store.reapAbandonedUploads(olderThan: limits.abandonedUploadAge,
                                                           limit: limits.janitorBatchMax)
        let multipart = try await store.reapAbandonedMultipartUploads(olderThan: limits.abandonedMultipartUploadAge,
                                                                      limit: limits.janitorBatchMax)
        _ = try await store.deleteExpiredPins()
        return (pending, multipart)
    }

    private func janitorLoop() async {
        while !Task.isCancelled {
            do {
                let reaped = try await reapOnce()
                if reaped.pending > 0 {
                    logger.notice("abandoned uploads sent to GC", metadata: ["uploads": "\(reaped.pending)"])
                }
                if reaped.multipart > 0 {
                    logger.notice("abandoned multipart uploads sent to GC", metadata: ["uploads": "\(reaped.multipart)"])
                }
                if max(reaped.pending, reaped.multipart) == limits.janitorBatchMax { continue }
            } catch {
                logger.warning("janitor round failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: limits.janitorInterval)
        }
    }
}
