extension Migrations {
    /// Migration 2: the upload commit as one server-side function, so a commit is one round trip instead of
    /// nine (BEGIN, lock, check, insert version, move chunks, point the key, retire, delete, COMMIT).
    /// `bench metadata` measured the nine-trip commit at about 3 300/s with the CPU busy switching between
    /// client threads and backends, not waiting for the disk (fdatasync here: ~0.1 ms).
    ///
    /// The statements are those `commitUpload` ran before, in the same order. In a volatile PL/pgSQL
    /// function each statement takes a fresh snapshot under READ COMMITTED, so the retire step still sees a
    /// version committed by a concurrent writer of the same key once the `objects` row lock is won.
    /// Refusals are raised with Silo's own SQLSTATEs: SL001 no such upload, SL002 chunks that do not add up.
    static let commitUploadFunction = """
        CREATE FUNCTION silo_commit_upload(p_upload bigint, p_size bigint, p_etag text, p_content_type text,
                                           p_checksums jsonb, p_user_metadata jsonb, p_chunks_max bigint,
                                           OUT o_version_id bigint, OUT o_chunks_retired bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_bucket text;
            v_key text;
            v_count bigint;
            v_total bigint;
            v_highest bigint;
            v_contiguous boolean;
        BEGIN
            SELECT bucket, key INTO v_bucket, v_key FROM pending_uploads WHERE upload_id = p_upload FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'upload % does not exist', p_upload USING ERRCODE = 'SL001';
            END IF;

            SELECT count(*), coalesce(sum(length_bytes), 0), coalesce(max(chunk_index), -1),
                   coalesce(bool_and(offset_bytes = before), true)
            INTO v_count, v_total, v_highest, v_contiguous
            FROM (SELECT chunk_index, offset_bytes, length_bytes,
                         coalesce(sum(length_bytes) OVER (ORDER BY chunk_index
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
                  FROM pending_chunks WHERE upload_id = p_upload) placed;
            IF v_count > p_chunks_max THEN
                RAISE EXCEPTION '% chunks; at most % are allowed', v_count, p_chunks_max USING ERRCODE = 'SL002';
            END IF;
            IF v_highest <> v_count - 1 OR NOT v_contiguous THEN
                RAISE EXCEPTION 'chunks are not numbered 0..<% with contiguous offsets', v_count
                    USING ERRCODE = 'SL002';
            END IF;
            IF v_total <> p_size THEN
                RAISE EXCEPTION 'chunks hold % bytes; the object is %', v_total, p_size USING ERRCODE = 'SL002';
            END IF;

            INSERT INTO object_versions (bucket, key, size_bytes, etag, content_type, checksums, user_metadata)
            VALUES (v_bucket, v_key, p_size, p_etag, p_content_type, p_checksums, p_user_metadata)
            RETURNING version_id INTO o_version_id;

            INSERT INTO chunks (version_id, chunk_index, chunk_id, offset_bytes, length_bytes, crc32c,
                                replica_node_ids)
            SELECT o_version_id, chunk_index, chunk_id, offset_bytes, length_bytes, crc32c, replica_node_ids
            FROM pending_chunks WHERE upload_id = p_upload;

            INSERT INTO objects (bucket, key, version_id) VALUES (v_bucket, v_key, o_version_id)
            ON CONFLICT (bucket, key) DO UPDATE SET version_id = EXCLUDED.version_id;

            WITH gone AS (
                DELETE FROM object_versions v
                WHERE v.bucket = v_bucket AND v.key = v_key AND v.version_id <> o_version_id
                  AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.version_id = v.version_id)
                RETURNING v.version_id
            ), moved AS (
                DELETE FROM chunks c WHERE c.version_id IN (SELECT g.version_id FROM gone g)
                RETURNING c.chunk_id, c.replica_node_ids
            )
            INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
            SELECT m.chunk_id, m.replica_node_ids, 'replaced' FROM moved m;
            GET DIAGNOSTICS o_chunks_retired = ROW_COUNT;

            DELETE FROM pending_uploads WHERE upload_id = p_upload;
        END
        $$;
        """
}

extension Migrations {
    /// Migration 3: the commit takes each chunk's CRC32C. The gateway records a chunk's placement before its
    /// first byte goes out (so the janitor can find it), but knows its checksum only once the last byte has
    /// gone through: the commit fills it in, in the same round trip. An overload of migration 2's function
    /// with one more parameter, `p_chunk_crcs` (indexed by chunk index + 1; NULL keeps the recorded values).
    static let commitUploadWithChecksums: String = {
        let signature = "p_user_metadata jsonb, p_chunks_max bigint,"
        let moved = "SELECT o_version_id, chunk_index, chunk_id, offset_bytes, length_bytes, crc32c, replica_node_ids"
        precondition(commitUploadFunction.contains(signature) && commitUploadFunction.contains(moved))
        return commitUploadFunction
            .replacingOccurrences(of: signature, with: signature + " p_chunk_crcs bigint[],")
            .replacingOccurrences(of: moved, with: """
                SELECT o_version_id, chunk_index, chunk_id, offset_bytes, length_bytes,
                       coalesce(p_chunk_crcs[chunk_index + 1], crc32c), replica_node_ids
                """)
    }()
}
