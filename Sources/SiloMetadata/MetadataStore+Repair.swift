import Foundation
import SiloCore

/// A chunk as repair sees it: where its copies are, which of them were found bad, and which table names
/// it (an object's chunk or a multipart part's).
package struct ChunkCopies: Hashable, Sendable {
    package enum Owner: String, Hashable, Sendable {
        case object = "o"
        case part = "p"
    }

    package var chunkID: ChunkID
    package var length: ByteCount
    package var crc32c: UInt32
    package var replicas: [NodeID]
    /// Replicas a read or a node's scrubber found bad (`bad_copies`).
    package var badReplicas: [NodeID]
    package var owner: Owner

    package init(chunkID: ChunkID, length: ByteCount, crc32c: UInt32, replicas: [NodeID], badReplicas: [NodeID] = [],
                owner: Owner = .object) {
        self.chunkID = chunkID
        self.length = length
        self.crc32c = crc32c
        self.replicas = replicas
        self.badReplicas = badReplicas
        self.owner = owner
    }
}

/// What the repair worker holding the lease reports in the lease row (JSON), for status commands and bench.
package struct RepairReport: Codable, Sendable, Equatable {
    /// The lease's name in `leases`.
    package static let leaseName = "repair"

    package var holder: String
    package var replicas: Int
    package var nodeLostAfterSeconds: Int64
    package var chunksRepaired: Int64
    package var chunksRebalanced: Int64
    package var chunksTrimmed: Int64
    package var bytesCopied: Int64
    package var copyFailures: Int64
    /// Copy rate of the current burst of work (0 when idle).
    package var bytesPerSecond: Double
    package var repairBytesPerSecondCap: Int64
    package var rebalancePasses: Int64
    package var orphansRemoved: Int64
    /// The `in` nodes of the last completed rebalance pass (empty before one).
    package var balancedNodes: [String] = []
    /// Copy rate of the last finished burst of repair (from the query that found work to the one that
    /// found none), and of rebalance; 0 before one.
    package var lastRepairBytesPerSecond: Double = 0
    package var lastRebalanceBytesPerSecond: Double = 0

    package init(holder: String, replicas: Int, nodeLostAfterSeconds: Int64, chunksRepaired: Int64,
                chunksRebalanced: Int64, chunksTrimmed: Int64, bytesCopied: Int64, copyFailures: Int64,
                bytesPerSecond: Double, repairBytesPerSecondCap: Int64, rebalancePasses: Int64, orphansRemoved: Int64) {
        self.holder = holder
        self.replicas = replicas
        self.nodeLostAfterSeconds = nodeLostAfterSeconds
        self.chunksRepaired = chunksRepaired
        self.chunksRebalanced = chunksRebalanced
        self.chunksTrimmed = chunksTrimmed
        self.bytesCopied = bytesCopied
        self.copyFailures = copyFailures
        self.bytesPerSecond = bytesPerSecond
        self.repairBytesPerSecondCap = repairBytesPerSecondCap
        self.rebalancePasses = rebalancePasses
        self.orphansRemoved = orphansRemoved
    }

    package var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    package static func decode(_ text: String?) -> RepairReport? {
        text.flatMap { try? JSONDecoder().decode(RepairReport.self, from: Data($0.utf8)) }
    }
}

/// How far the cluster is from full redundancy: copies missing per chunk, counted over objects and parts.
package struct RedundancyReport: Hashable, Sendable {
    package struct Tally: Hashable, Sendable {
        package var chunks: Int64 = 0
        package var bytes: Int64 = 0
    }

    /// Chunks and bytes by the number of good copies missing (1, 2, …); chunks missing none are not here.
    package var missing: [Int: Tally] = [:]
    package var total = Tally()

    package init() {}

    package var underReplicated: Tally {
        missing.values.reduce(into: Tally()) { $0.chunks += $1.chunks; $0.bytes += $1.bytes }
    }
    /// Bytes a repair must copy to restore every missing copy.
    package var bytesToCopy: Int64 { missing.reduce(0) { $0 + Int64($1.key) * $1.value.bytes } }
}

/// Repair's side of the metadata: finding chunks short of good copies, recording new replica sets, the bad
/// copies reads and scrubbers report, and the lease that keeps one repair worker per cluster.
extension MetadataStore {
    /// Chunks whose recorded copies are not all on `$1` (the nodes whose copies count), or that have a bad
    /// copy, or fewer than `$2` copies; fewest good copies first. `$3`: chunk ids to leave out (found
    /// unrepairable this round).
    static let selectUnderReplicated = Statement("silo_select_under_replicated", """
        WITH bad AS (SELECT chunk_id, array_agg(node_id) AS nodes FROM bad_copies GROUP BY chunk_id),
        candidates AS (
            SELECT 'o' AS owner, c.chunk_id, c.length_bytes, c.crc32c, c.replica_node_ids,
                   coalesce(b.nodes, '{}') AS bad
            FROM chunks c LEFT JOIN bad b ON b.chunk_id = c.chunk_id
            WHERE NOT (c.replica_node_ids <@ $1::text[]) OR b.chunk_id IS NOT NULL
               OR cardinality(c.replica_node_ids) < $2
            UNION ALL
            SELECT 'p', m.chunk_id, m.length_bytes, m.crc32c, m.replica_node_ids, coalesce(b.nodes, '{}')
            FROM multipart_part_chunks m LEFT JOIN bad b ON b.chunk_id = m.chunk_id
            WHERE NOT (m.replica_node_ids <@ $1::text[]) OR b.chunk_id IS NOT NULL
               OR cardinality(m.replica_node_ids) < $2
        )
        SELECT owner, chunk_id, length_bytes, crc32c, replica_node_ids, bad,
            (SELECT count(*) FROM unnest(replica_node_ids) r WHERE r = ANY($1::text[]) AND NOT r = ANY(bad)) AS good
        FROM candidates
        WHERE NOT chunk_id = ANY($3::text[])
        ORDER BY good, chunk_id
        LIMIT $4
        """)

    /// Every chunk of objects and parts after `$1` by chunk id, for a rebalance pass.
    static let selectChunksAfter = Statement("silo_select_chunks_after", """
        SELECT owner, chunk_id, length_bytes, crc32c, replica_node_ids FROM (
            SELECT 'o' AS owner, chunk_id, length_bytes, crc32c, replica_node_ids FROM chunks WHERE chunk_id > $1
            UNION ALL
            SELECT 'p', chunk_id, length_bytes, crc32c, replica_node_ids FROM multipart_part_chunks WHERE chunk_id > $1
        ) all_chunks
        ORDER BY chunk_id LIMIT $2
        """)

    static let updateObjectReplicas = Statement("silo_update_object_replicas", """
        UPDATE chunks SET replica_node_ids = $3::text[] WHERE chunk_id = $1 AND replica_node_ids = $2::text[]
        """)
    static let updatePartReplicas = Statement("silo_update_part_replicas", """
        UPDATE multipart_part_chunks SET replica_node_ids = $3::text[]
        WHERE chunk_id = $1 AND replica_node_ids = $2::text[]
        """)
    /// A GC row still to delete the chunk from one of `$2`: recording such a node as holding it would lose
    /// the copy when the row is collected.
    static let pendingDeleteOnNodes = Statement("silo_pending_delete_on_nodes", """
        SELECT 1 FROM gc_queue WHERE chunk_id = $1 AND replica_node_ids && $2::text[] LIMIT 1
        """)
    static let enqueueGarbage = Statement("silo_enqueue_garbage", """
        INSERT INTO gc_queue (chunk_id, replica_node_ids, reason) VALUES ($1, $2::text[], $3)
        """)
    static let deleteBadCopies = Statement("silo_delete_bad_copies", """
        DELETE FROM bad_copies WHERE chunk_id = $1 AND NOT node_id = ANY($2::text[])
        """)
    static let insertBadCopy = Statement("silo_insert_bad_copy", """
        INSERT INTO bad_copies (chunk_id, node_id, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
        """)
    /// Bad copies no object, part or pending upload names any more (a read of a chunk deleted since, or a
    /// node's quarantined file of a chunk repair already dropped): the node's file is handed to GC.
    static let retireStrayBadCopies = Statement("silo_retire_stray_bad_copies", """
        WITH stray AS (
            DELETE FROM bad_copies b
            WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = b.chunk_id AND b.node_id = ANY(c.replica_node_ids))
              AND NOT EXISTS (SELECT 1 FROM multipart_part_chunks m
                              WHERE m.chunk_id = b.chunk_id AND b.node_id = ANY(m.replica_node_ids))
              AND NOT EXISTS (SELECT 1 FROM pending_chunks p WHERE p.chunk_id = b.chunk_id)
              AND found_at < now() - make_interval(secs => $1)
            RETURNING chunk_id, node_id
        )
        INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
        SELECT chunk_id, ARRAY[node_id], 'bad copy' FROM stray
        """)
    /// Of the chunk ids `$1` found on node `$2`, those nothing names: no object or part counting a copy on
    /// that node, no pending upload, no GC row.
    static let selectOrphans = Statement("silo_select_orphans", """
        SELECT id FROM unnest($1::text[]) AS listed(id)
        WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_id = listed.id AND $2 = ANY(c.replica_node_ids))
          AND NOT EXISTS (SELECT 1 FROM multipart_part_chunks m
                          WHERE m.chunk_id = listed.id AND $2 = ANY(m.replica_node_ids))
          AND NOT EXISTS (SELECT 1 FROM pending_chunks p WHERE p.chunk_id = listed.id)
          AND NOT EXISTS (SELECT 1 FROM gc_queue g WHERE g.chunk_id = listed.id)
        """)
    static let countBadCopies = Statement("silo_count_bad_copies", "SELECT count(*) FROM bad_copies")
    /// Takes or renews lease `$1` for holder `$2` for `$3` seconds; returns a row when `$2` holds it.
    static let takeLease = Statement("silo_take_lease", """
        INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
        WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()
        RETURNING holder
        """)
    static let leaseProgress = Statement("silo_lease_progress", """
        UPDATE leases SET progress = $3 WHERE name = $1 AND holder = $2
        """)
    static let selectLease = Statement("silo_select_lease", """
        SELECT holder, progress, \(epochMicroseconds("expires_at")) FROM leases WHERE name = $1
        """)
    static let releaseLease = Statement("silo_release_lease", "DELETE FROM leases WHERE name = $1 AND holder = $2")
    static let selectLeaseHolder = Statement("silo_select_lease_holder", """
        SELECT holder FROM leases WHERE name = $1 AND expires_at >= now()
        """)
    /// Good copies missing per chunk, grouped: `$1` the nodes whose copies count, `$2` the replica count.
    static let redundancy = Statement("silo_redundancy", """
        WITH bad AS (SELECT chunk_id, array_agg(node_id) AS nodes FROM bad_copies GROUP BY chunk_id),
        all_chunks AS (
            SELECT chunk_id, length_bytes, replica_node_ids FROM chunks
            UNION ALL SELECT chunk_id, length_bytes, replica_node_ids FROM multipart_part_chunks
        ),
        counted AS (
            SELECT a.length_bytes, greatest(0, $2 - (SELECT count(*) FROM unnest(a.replica_node_ids) r
                WHERE r = ANY($1::text[]) AND NOT r = ANY(coalesce(b.nodes, '{}')))) AS missing
            FROM all_chunks a LEFT JOIN bad b ON b.chunk_id = a.chunk_id
        )
        SELECT missing, count(*), coalesce(sum(length_bytes), 0)::bigint FROM counted GROUP BY missing
        """)

    /// Up to `limit` chunks short of good copies, fewest good copies first. A copy is good when it is on
    /// one of `goodNodes` and not in `bad_copies`.
    package func underReplicatedChunks(goodNodes: [NodeID], replicaCount: Int, excluding: [ChunkID] = [],
                                       limit: Int) async throws -> [ChunkCopies] {
        let rows = max(1, min(limit, limits.claimRowsMax))
        return try await pool.read { connection in
            let result = try connection.execute(Self.selectUnderReplicated, [
                goodNodes.map(\.value).sqlArray, replicaCount.sql, excluding.map(\.value).sqlArray, rows.sql,
            ])
            return try (0..<result.rowCount).map { row in
                ChunkCopies(chunkID: try result.chunkID(row, 1), length: ByteCount(try result.requiredInt64(row, 2)),
                            crc32c: UInt32(truncatingIfNeeded: try result.requiredInt64(row, 3)),
                            replicas: try result.nodeIDs(row, 4), badReplicas: try result.nodeIDs(row, 5),
                            owner: ChunkCopies.Owner(rawValue: try result.requiredString(row, 0)) ?? .object)
            }
        }
    }

    /// Up to `limit` chunks after `after` in chunk id order (nil: from the first), for a rebalance pass.
    package func chunks(after: ChunkID?, limit: Int) async throws -> [ChunkCopies] {
        let rows = max(1, min(limit, limits.claimRowsMax))
        return try await pool.read { connection in
            let result = try connection.execute(Self.selectChunksAfter, [after?.value ?? "", rows.sql])
            return try (0..<result.rowCount).map { row in
                ChunkCopies(chunkID: try result.chunkID(row, 1), length: ByteCount(try result.requiredInt64(row, 2)),
                            crc32c: UInt32(truncatingIfNeeded: try result.requiredInt64(row, 3)),
                            replicas: try result.nodeIDs(row, 4),
                            owner: ChunkCopies.Owner(rawValue: try result.requiredString(row, 0)) ?? .object)
            }
        }
    }

    /// Records that `chunk` now lives on `replicas` instead of `chunk.replicas`, in one transaction: the
    /// replica list (only if it is still the one repair read), the dropped copies to GC, the bad-copy rows
    /// of dropped nodes gone. Returns false, changing nothing, when the chunk was deleted or changed
    /// meanwhile or a GC row is about to delete it from one of the `added` nodes; the caller then hands
    /// its new copies to GC.
    package func recordReplicas(of chunk: ChunkCopies, replicas: [NodeID], added: [NodeID]) async throws -> Bool {
        let dropped = chunk.replicas.filter { !replicas.contains($0) }
        return try await pool.transaction { connection in
            if !added.isEmpty, try connection.execute(Self.pendingDeleteOnNodes, [
                chunk.chunkID.value, added.map(\.value).sqlArray,
            ]).rowCount > 0 {
                return false
            }
            let update = chunk.owner == .object ? Self.updateObjectReplicas : Self.updatePartReplicas
            guard try connection.execute(update, [
                chunk.chunkID.value, chunk.replicas.map(\.value).sqlArray, replicas.map(\.value).sqlArray,
            ]).affectedRows == 1 else { return false }
            if !dropped.isEmpty {
                try connection.execute(Self.enqueueGarbage, [
                    chunk.chunkID.value, dropped.map(\.value).sqlArray, "replica moved by repair",
                ])
            }
            try connection.execute(Self.deleteBadCopies, [chunk.chunkID.value, replicas.map(\.value).sqlArray])
            return true
        }
    }

    /// Hands copies of `chunk` on `nodes` to GC (copies repair made but could not record).
    package func enqueueGarbage(_ chunk: ChunkID, on nodes: [NodeID], reason: String) async throws {
        guard !nodes.isEmpty else { return }
        try await pool.transaction { connection in
            _ = try connection.execute(Self.enqueueGarbage, [chunk.value, nodes.map(\.value).sqlArray, reason])
        }
    }

    /// A read or a node's scrubber found the copy of `chunk` on `node` bad: it no longer counts, and repair
    /// replaces it.
    package func reportBadCopy(_ chunk: ChunkID, on node: NodeID, reason: String) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.insertBadCopy, [chunk.value, node.value, reason])
        }
    }

    /// Moves bad copies no metadata names (and older than `age`) to GC. Returns how many.
    @discardableResult
    package func retireStrayBadCopies(olderThan age: Duration) async throws -> Int {
        try await pool.transaction { connection in
            try connection.execute(Self.retireStrayBadCopies, [Self.seconds(age)]).affectedRows
        }
    }

    /// Of `chunks` (ids listed on `node`), those no metadata names for that node: orphans.
    package func orphans(_ chunks: [ChunkID], on node: NodeID) async throws -> [ChunkID] {
        guard !chunks.isEmpty else { return [] }
        return try await pool.read { connection in
            let result = try connection.execute(Self.selectOrphans, [chunks.map(\.value).sqlArray, node.value])
            return try (0..<result.rowCount).map { try result.chunkID($0, 0) }
        }
    }

    package func badCopyCount() async throws -> Int {
        try await pool.read { connection in Int(try connection.execute(Self.countBadCopies).requiredInt64(0, 0)) }
    }

    /// Takes lease `name` for `holder` (or renews it), for `duration`; true when `holder` holds it.
    package func takeLease(_ name: String, holder: String, for duration: Duration) async throws -> Bool {
        try await pool.transaction { connection in
            try connection.execute(Self.takeLease, [name, holder, Self.seconds(duration)]).rowCount == 1
        }
    }

    package func releaseLease(_ name: String, holder: String) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.releaseLease, [name, holder])
        }
    }

    /// Stores what the holder of lease `name` reports of its work (JSON text), while it holds it.
    package func reportLeaseProgress(_ name: String, holder: String, progress: String) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.leaseProgress, [name, holder, progress])
        }
    }

    /// Lease `name` as stored: holder, reported progress, expiry (past: nobody holds it now).
    package func lease(_ name: String) async throws -> (holder: String, progress: String?, expires: Date)? {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectLease, [name])
            guard result.rowCount == 1 else { return nil }
            return (try result.requiredString(0, 0), result.string(0, 1), try result.date(0, 2) ?? Date.distantPast)
        }
    }

    /// Who holds lease `name` now, if anyone.
    package func leaseHolder(_ name: String) async throws -> String? {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectLeaseHolder, [name])
            return result.rowCount == 1 ? result.string(0, 0) : nil
        }
    }

    /// Counts chunks and bytes by good copies missing. A full scan of the chunk tables: for status
    /// commands and the repair worker's rounds, not for request paths.
    package func redundancy(goodNodes: [NodeID], replicaCount: Int) async throws -> RedundancyReport {
        try await pool.read { connection in
            let result = try connection.execute(Self.redundancy, [goodNodes.map(\.value).sqlArray, replicaCount.sql])
            var report = RedundancyReport()
            for row in 0..<result.rowCount {
                let missing = Int(try result.requiredInt64(row, 0))
                let chunks = try result.requiredInt64(row, 1)
                let bytes = try result.requiredInt64(row, 2)
                report.total.chunks += chunks
                report.total.bytes += bytes
                if missing > 0 { report.missing[missing] = .init(chunks: chunks, bytes: bytes) }
            }
            return report
        }
    }
}
