import Foundation
import SiloCore

/// The node registry, the GC queue, the janitor's queries and access keys: the background side of the
/// metadata.
extension MetadataStore {
    static let upsertNode = Statement("silo_upsert_node", """
        INSERT INTO nodes (id, address, membership, capacity_bytes, free_bytes, last_heartbeat)
        VALUES ($1, $2, $3, $4, $5, now())
        ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address,
            capacity_bytes = EXCLUDED.capacity_bytes, free_bytes = EXCLUDED.free_bytes, last_heartbeat = now(),
            down_since = NULL
        """)
    /// A probe's answer: stamps the heartbeat, clears `down_since`, and records the node's identity the
    /// first time. Matches no row when the node answered with another identity than the recorded one.
    static let nodeHeartbeat = Statement("silo_node_heartbeat", """
        UPDATE nodes SET free_bytes = $2, capacity_bytes = $3, last_heartbeat = now(), down_since = NULL,
            instance_id = coalesce(instance_id, nullif($4, ''))
        WHERE id = $1 AND (instance_id IS NULL OR $4 = '' OR instance_id = $4)
        """)
    /// Marks a node down unless some gateway heard from it within `$2` seconds: gateways that disagree
    /// (one cut off from a node another reaches) leave it up, and the table does not flap.
    static let nodeDown = Statement("silo_node_down", """
        UPDATE nodes SET down_since = now()
        WHERE id = $1 AND down_since IS NULL
          AND (last_heartbeat IS NULL OR last_heartbeat < now() - make_interval(secs => $2))
        """)
    static let insertNode = Statement("silo_insert_node", """
        INSERT INTO nodes (id, address, membership, capacity_bytes, free_bytes, last_heartbeat)
        VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (id) DO NOTHING
        """)
    static let deleteNode = Statement("silo_delete_node", "DELETE FROM nodes WHERE id = $1")
    static let nodeMembership = Statement("silo_node_membership", "UPDATE nodes SET membership = $2 WHERE id = $1")
    static let selectNodes = Statement("silo_select_nodes", """
        SELECT id, address, membership, capacity_bytes, free_bytes, \(epochMicroseconds("last_heartbeat")),
            \(epochMicroseconds("down_since")), instance_id
        FROM nodes ORDER BY id
        """)
    /// Copies a node is named for, in objects and in multipart parts.
    static let countNodeCopies = Statement("silo_count_node_copies", """
        SELECT (SELECT count(*) FROM chunks WHERE $1 = ANY(replica_node_ids))
             + (SELECT count(*) FROM multipart_part_chunks WHERE $1 = ANY(replica_node_ids))
        """)
    /// Forgets a node's identity and counts every copy it was named for as bad: its disk was replaced.
    static let resetNodeIdentity = Statement("silo_reset_node_identity", """
        WITH node AS (UPDATE nodes SET instance_id = NULL, down_since = NULL WHERE id = $1 RETURNING id)
        INSERT INTO bad_copies (chunk_id, node_id, reason)
        SELECT chunk_id, $1, 'node identity reset' FROM chunks
        WHERE $1 = ANY(replica_node_ids) AND EXISTS (SELECT 1 FROM node)
        UNION ALL
        SELECT chunk_id, $1, 'node identity reset' FROM multipart_part_chunks
        WHERE $1 = ANY(replica_node_ids) AND EXISTS (SELECT 1 FROM node)
        ON CONFLICT DO NOTHING
        """)
    static let claimGarbage = Statement("silo_claim_garbage", """
        UPDATE gc_queue SET claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1
        WHERE gc_id IN (
            SELECT gc_id FROM gc_queue
            WHERE (claimed_until IS NULL OR claimed_until < now()) AND enqueued_at <= now() - make_interval(secs => $3)
              AND NOT EXISTS (SELECT 1 FROM read_pins r
                              WHERE r.chunk_ids @> ARRAY[gc_queue.chunk_id] AND r.expires_at > now())
            ORDER BY gc_id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING gc_id, chunk_id, ARRAY(
            SELECT unnest(replica_node_ids)
            EXCEPT
            SELECT unnest(named.replica_node_ids) FROM (
                SELECT replica_node_ids FROM chunks c WHERE c.chunk_id = gc_queue.chunk_id
                UNION ALL SELECT replica_node_ids FROM multipart_part_chunks m WHERE m.chunk_id = gc_queue.chunk_id
                UNION ALL SELECT replica_node_ids FROM pending_chunks p WHERE p.chunk_id = gc_queue.chunk_id
            ) named), attempts
        """)
    static let acknowledgeGarbage = Statement("silo_acknowledge_garbage", """
        DELETE FROM gc_queue WHERE gc_id = ANY($1::bigint[])
        """)
    static let countGarbage = Statement("silo_count_garbage", "SELECT count(*) FROM gc_queue")
    static let selectAbandonedUploads = Statement("silo_select_abandoned_uploads", """
        SELECT upload_id FROM pending_uploads WHERE touched_at < now() - make_interval(secs => $1)
        ORDER BY touched_at LIMIT $2
        """)
    static let reapAbandonedUploads = Statement("silo_reap_abandoned_uploads", """
        WITH victims AS (
            SELECT upload_id FROM pending_uploads WHERE touched_at < now() - make_interval(secs => $1)
            ORDER BY touched_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ), moved AS (
            INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
            SELECT chunk_id, replica_node_ids, 'abandoned upload' FROM pending_chunks
            WHERE upload_id IN (SELECT upload_id FROM victims)
        )
        DELETE FROM pending_uploads WHERE upload_id IN (SELECT upload_id FROM victims)
        """)
    static let insertReadPin = Statement("silo_insert_read_pin", """
        INSERT INTO read_pins (chunk_ids, expires_at) VALUES ($1::text[], now() + make_interval(secs => $2))
        RETURNING pin_id
        """)
    static let renewReadPin = Statement("silo_renew_read_pin", """
        UPDATE read_pins SET expires_at = now() + make_interval(secs => $2) WHERE pin_id = $1
        """)
    static let deleteReadPin = Statement("silo_delete_read_pin", "DELETE FROM read_pins WHERE pin_id = $1")
    static let deleteExpiredReadPins = Statement("silo_delete_expired_read_pins", """
        DELETE FROM read_pins WHERE expires_at < now()
        """)
    static let insertAccessKey = Statement("silo_insert_access_key", """
        INSERT INTO access_keys (access_key_id, secret_key) VALUES ($1, $2)
        ON CONFLICT (access_key_id) DO UPDATE SET secret_key = EXCLUDED.secret_key, active = true
        """)
    static let insertNewAccessKey = Statement("silo_insert_new_access_key", """
        INSERT INTO access_keys (access_key_id, secret_key) VALUES ($1, $2) ON CONFLICT (access_key_id) DO NOTHING
        """)
    static let selectAccessKeys = Statement("silo_select_access_keys", """
        SELECT access_key_id, active, \(epochMicroseconds("created_at")) FROM access_keys ORDER BY access_key_id
        """)
    static let deleteAccessKey = Statement("silo_delete_access_key", "DELETE FROM access_keys WHERE access_key_id = $1")
    static let selectSecretKey = Statement("silo_select_secret_key", """
        SELECT secret_key FROM access_keys WHERE access_key_id = $1 AND active
        """)

    // MARK: - Nodes

    /// Adds a node or updates its address and capacity; stamps its heartbeat. An existing node keeps its
    /// membership: only an operator changes it (`setMembership`).
    package func registerNode(_ node: NodeRecord) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.upsertNode, [
                node.id.value, node.address, node.membership.rawValue, node.capacity.bytes.sql, node.free.bytes.sql,
            ])
        }
    }

    /// Adds a node an operator named (`silo admin nodes add`): `nodeAlreadyExists` rather than the silent
    /// overwrite of `registerNode`, so a typo cannot repoint a live node id at another address. No heartbeat
    /// is recorded: nothing has heard from the node yet.
    package func addNode(_ node: NodeRecord) async throws {
        let added = try await pool.transaction { connection in
            try connection.execute(Self.insertNode, [
                node.id.value, node.address, node.membership.rawValue, node.capacity.bytes.sql, node.free.bytes.sql,
            ]).affectedRows == 1
        }
        if !added { throw MetadataError.nodeAlreadyExists(node.id) }
    }

    /// Forgets a node. Unless `force`, refuses (`nodeHoldsCopies`) while any object or part still names it
    /// as a replica: drain it first. Forced, its copies no longer count and repair replaces them.
    package func removeNode(_ id: NodeID, force: Bool = false) async throws {
        try await pool.transaction { connection in
            if !force {
                let copies = try connection.execute(Self.countNodeCopies, [id.value]).requiredInt64(0, 0)
                if copies > 0 { throw MetadataError.nodeHoldsCopies(id, copies: Int(copies)) }
            }
            guard try connection.execute(Self.deleteNode, [id.value]).affectedRows == 1 else {
                throw MetadataError.noSuchNode(id)
            }
        }
    }

    /// Copies of chunks (objects and multipart parts) the metadata names `id` for.
    package func copyCount(on id: NodeID) async throws -> Int {
        try await pool.read { connection in
            Int(try connection.execute(Self.countNodeCopies, [id.value]).requiredInt64(0, 0))
        }
    }

    /// Records a probe's answer. Returns false when the node answered with another identity than the one
    /// recorded (or one another row already has): it is not the node this row names.
    @discardableResult
    package func recordHeartbeat(_ id: NodeID, capacity: ByteCount, free: ByteCount, instanceID: String = "")
        async throws -> Bool
    {
        do {
            return try await pool.transaction { connection in
                try connection.execute(Self.nodeHeartbeat, [id.value, free.bytes.sql, capacity.bytes.sql, instanceID])
                    .affectedRows == 1
            }
        } catch let error as DatabaseError where error.sqlState == SQLState.uniqueViolation {
            return false
        }
    }

    /// Marks a node down, unless a gateway heard from it in the last `window`.
    package func markNodeDown(_ id: NodeID, unlessHeardWithin window: Duration = .zero) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.nodeDown, [id.value, Self.seconds(window)])
        }
    }

    package func setMembership(_ id: NodeID, _ membership: NodeMembership) async throws {
        try await pool.transaction { connection in
            guard try connection.execute(Self.nodeMembership, [id.value, membership.rawValue]).affectedRows == 1 else {
                throw MetadataError.noSuchNode(id)
            }
        }
    }

    /// The node's disk was replaced (or wiped): its recorded identity is forgotten so that it is accepted
    /// again, and every copy it was named for counts as bad until repair replaced it. Returns how many.
    @discardableResult
    package func resetNodeIdentity(_ id: NodeID) async throws -> Int {
        try await pool.transaction { connection in
            guard try connection.execute(Statement("silo_node_exists", "SELECT 1 FROM nodes WHERE id = $1"),
                                         [id.value]).rowCount == 1 else {
                throw MetadataError.noSuchNode(id)
            }
            return try connection.execute(Self.resetNodeIdentity, [id.value]).affectedRows
        }
    }

    package func nodes() async throws -> [NodeRecord] {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectNodes)
            return try (0..<result.rowCount).map { row in
                let text = try result.requiredString(row, 2)
                guard let membership = NodeMembership(rawValue: text) else {
                    throw DatabaseError.unexpectedResult("node membership '\(text)'")
                }
                return NodeRecord(
                    id: try storedName(result.requiredString(row, 0), NodeID.init),
                    address: try result.requiredString(row, 1), membership: membership,
                    capacity: ByteCount(try result.requiredInt64(row, 3)),
                    free: ByteCount(try result.requiredInt64(row, 4)), lastHeartbeat: try result.date(row, 5),
                    downSince: try result.date(row, 6), instanceID: result.string(row, 7))
            }
        }
    }

    // MARK: - GC queue

    /// Hands out up to `count` chunks to delete, leased for `lease`. Concurrent workers never get the same
    /// row (`FOR UPDATE SKIP LOCKED`); a row whose lease ran out without an ack is handed out again.
    ///
    /// Only chunks queued at least `grace` ago are handed out: a download that read the metadata of a
    /// version just before it was replaced or deleted can still fetch its chunks for that long.
    package func claimGarbage(count: Int, lease: Duration, grace: Duration = .zero) async throws -> [GarbageChunk] {
        let rows = max(0, min(count, limits.claimRowsMax))
        return try await pool.transaction { connection in
            let result = try connection.execute(Self.claimGarbage, [rows.sql, Self.seconds(lease), Self.seconds(grace)])
            return try (0..<result.rowCount).map { row in
                GarbageChunk(gcID: try result.requiredInt64(row, 0), chunkID: try result.chunkID(row, 1),
                             replicas: try result.nodeIDs(row, 2), attempts: Int(try result.requiredInt64(row, 3)))
            }.sorted { $0.gcID < $1.gcID }
        }
    }

    /// Removes chunks whose replicas all confirmed the delete.
    package func acknowledgeGarbage(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await pool.transaction { connection in
            _ = try connection.execute(Self.acknowledgeGarbage, [ids.map(String.init).sqlArray])
        }
    }

    package func garbageCount() async throws -> Int {
        try await pool.read { connection in Int(try connection.execute(Self.countGarbage).requiredInt64(0, 0)) }
    }

    // MARK: - Read pins

    /// Keeps GC off `chunks` for `lease` (renewable): a running download still reads them.
    package func pinChunks(_ chunks: [ChunkID], for lease: Duration) async throws -> ReadPinID {
        try await pool.transaction { connection in
            let result = try connection.execute(Self.insertReadPin, [chunks.map(\.value).sqlArray, Self.seconds(lease)])
            return ReadPinID(try result.requiredInt64(0, 0))
        }
    }

    /// Extends a pin by `lease` from now; false when it is gone (expired and deleted by a janitor).
    package func renewPin(_ pin: ReadPinID, for lease: Duration) async throws -> Bool {
        try await pool.transaction { connection in
            try connection.execute(Self.renewReadPin, [pin.value.sql, Self.seconds(lease)]).affectedRows == 1
        }
    }

    package func unpin(_ pin: ReadPinID) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.deleteReadPin, [pin.value.sql])
        }
    }

    /// Deletes pins whose downloads stopped renewing them (their gateway died); returns how many.
    package func deleteExpiredPins() async throws -> Int {
        try await pool.transaction { connection in try connection.execute(Self.deleteExpiredReadPins).affectedRows }
    }

    // MARK: - Janitor

    /// Pending uploads not touched for `age`: their gateway died or their client left.
    package func abandonedUploads(olderThan age: Duration, limit: Int) async throws -> [PendingUploadID] {
        let rows = max(0, min(limit, limits.claimRowsMax))
        return try await pool.read { connection in
            let result = try connection.execute(Self.selectAbandonedUploads, [Self.seconds(age), rows.sql])
            return try (0..<result.rowCount).map { PendingUploadID(try result.requiredInt64($0, 0)) }
        }
    }

    /// Turns up to `limit` abandoned uploads into GC work; janitors on several gateways skip each other's
    /// rows. Returns how many it reaped.
    package func reapAbandonedUploads(olderThan age: Duration, limit: Int) async throws -> Int {
        let rows = max(0, min(limit, limits.claimRowsMax))
        return try await pool.transaction { connection in
            try connection.execute(Self.reapAbandonedUploads, [Self.seconds(age), rows.sql]).affectedRows
        }
    }

    // MARK: - Access keys

    package func putAccessKey(id: String, secret: String) async throws {
        try await pool.transaction { connection in
            _ = try connection.execute(Self.insertAccessKey, [id, secret])
        }
    }

    /// Stores a new pair; `accessKeyAlreadyExists` when the id is taken (unlike `putAccessKey`, which
    /// replaces the secret: importing over an existing key by accident would lock its users out).
    package func createAccessKey(_ pair: AccessKeyPair) async throws {
        let created = try await pool.transaction { connection in
            try connection.execute(Self.insertNewAccessKey, [pair.accessKey, pair.secretKey]).affectedRows == 1
        }
        if !created { throw MetadataError.accessKeyAlreadyExists(pair.accessKey) }
    }

    /// Every key without its secret, by id.
    package func accessKeys() async throws -> [AccessKeyRecord] {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectAccessKeys)
            return try (0..<result.rowCount).map { row in
                AccessKeyRecord(accessKey: try result.requiredString(row, 0), active: result.bool(row, 1) ?? false,
                                createdAt: try result.date(row, 2)!)
            }
        }
    }

    package func deleteAccessKey(_ accessKey: String) async throws {
        try await pool.transaction { connection in
            guard try connection.execute(Self.deleteAccessKey, [accessKey]).affectedRows == 1 else {
                throw MetadataError.noSuchAccessKey(accessKey)
            }
        }
    }

    /// The secret SigV4 verification needs; nil for an unknown or disabled key.
    package func secretKey(accessKeyID: String) async throws -> String? {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectSecretKey, [accessKeyID])
            return result.rowCount == 1 ? result.string(0, 0) : nil
        }
    }

    static func seconds(_ duration: Duration) -> SQLValue {
        String(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
