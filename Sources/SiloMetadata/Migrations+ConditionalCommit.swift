extension Migrations {
    /// Migration 4: conditional writes (`If-Match`, `If-None-Match: *`) decided inside the commit, so that
    /// two racing writers cannot both pass a check made before either committed. An overload of migration
    /// 3's function with two more parameters:
    ///
    /// - `p_if_match`: the current version's ETag must be this one (`*`: any). The key's `objects` row is
    ///   locked before the ETag is read, so a concurrent commit of the key is waited for and then seen.
    ///   No current version raises SL004 (S3's 404 `NoSuchKey`), a different ETag SL003 (412).
    /// - `p_if_none_match`: the key must have no current version. The `objects` row is inserted with
    ///   `ON CONFLICT DO NOTHING`: a concurrent insert of the same key holds the unique index entry until it
    ///   commits, so of two racing creators exactly one inserts and the other raises SL003.
    ///
    /// A refusal rolls the whole commit back; the pending upload stays for the gateway to abandon (its
    /// chunks go to the GC queue). Also adds the index the janitor's multipart reaping scans by age.
    static let conditionalCommit: String = {
        let signature = "p_chunk_crcs bigint[],"
        let declarations = "v_contiguous boolean;"
        let beforeInsert = "INSERT INTO object_versions (bucket, key, size_bytes, etag, content_type, checksums, user_metadata)"
        let upsert = """
                INSERT INTO objects (bucket, key, version_id) VALUES (v_bucket, v_key, o_version_id)
                ON CONFLICT (bucket, key) DO UPDATE SET version_id = EXCLUDED.version_id;
            """
        let base = commitUploadWithChecksums
        precondition(base.contains(signature) && base.contains(declarations) && base.contains(beforeInsert)
                     && base.contains(upsert))
        let function = base
            .replacingOccurrences(of: signature, with: signature + " p_if_match text, p_if_none_match boolean,")
            .replacingOccurrences(of: declarations, with: declarations + """

                    v_current bigint;
                    v_current_etag text;
                """)
            .replacingOccurrences(of: beforeInsert, with: """
                IF p_if_match IS NOT NULL THEN
                        SELECT version_id INTO v_current FROM objects WHERE bucket = v_bucket AND key = v_key FOR UPDATE;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION 'key % has no current version', v_key USING ERRCODE = 'SL004';
                        END IF;
                        SELECT etag INTO v_current_etag FROM object_versions WHERE version_id = v_current;
                        IF p_if_match <> '*' AND v_current_etag IS DISTINCT FROM p_if_match THEN
                            RAISE EXCEPTION 'the current ETag of % is %, not %', v_key, v_current_etag, p_if_match
                                USING ERRCODE = 'SL003';
                        END IF;
                    END IF;

                    \(beforeInsert)
                """)
            .replacingOccurrences(of: upsert, with: """
                    IF coalesce(p_if_none_match, false) THEN
                        INSERT INTO objects (bucket, key, version_id) VALUES (v_bucket, v_key, o_version_id)
                        ON CONFLICT (bucket, key) DO NOTHING;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION 'key % already has a current version', v_key USING ERRCODE = 'SL003';
                        END IF;
                    ELSE
                        INSERT INTO objects (bucket, key, version_id) VALUES (v_bucket, v_key, o_version_id)
                        ON CONFLICT (bucket, key) DO UPDATE SET version_id = EXCLUDED.version_id;
                    END IF;

                """)
        return function + """

            CREATE INDEX multipart_uploads_by_age ON multipart_uploads (initiated_at);
            """
    }()
}
