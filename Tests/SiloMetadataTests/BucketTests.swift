import SiloCore
import SiloTestSupport
import Testing

@testable import SiloMetadata

@Suite struct BucketTests {
    @Test func createListDelete() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("beta"))
            try await store.createBucket(bucket("alpha"))
            #expect(try await store.listBuckets().map(\.name.value) == ["alpha", "beta"])
            #expect(try await store.bucketExists(bucket("alpha")))
            try await store.deleteBucket(bucket("alpha"))
            #expect(try await store.listBuckets().map(\.name.value) == ["beta"])
            #expect(try await !store.bucketExists(bucket("alpha")))
        }
    }

    @Test func duplicateBucketIsRefused() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("photos"))
            await #expect(throws: MetadataError.bucketAlreadyExists(bucket("photos"))) {
                try await store.createBucket(bucket("photos"))
            }
        }
    }

    @Test func deletingAMissingBucketIsNoSuchBucket() async throws {
        try await TestDatabase.withStore { store in
            await #expect(throws: MetadataError.noSuchBucket(bucket("nothing"))) {
                try await store.deleteBucket(bucket("nothing"))
            }
        }
    }

    @Test func nonEmptyBucketIsNotDeleted() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("full"))
            try await putObject(store, bucket("full"), key("a"))
            await #expect(throws: MetadataError.bucketNotEmpty(bucket("full"))) {
                try await store.deleteBucket(bucket("full"))
            }
            // An upload in progress also keeps the bucket.
            try await store.deleteObject(bucket: bucket("full"), key: key("a"))
            let pending = try await store.beginUpload(bucket: bucket("full"), key: key("b"))
            await #expect(throws: MetadataError.bucketNotEmpty(bucket("full"))) {
                try await store.deleteBucket(bucket("full"))
            }
            try await store.abandonUpload(pending)
            try await store.deleteBucket(bucket("full"))
            #expect(try await store.listBuckets().isEmpty)
        }
    }

    @Test func migrationsApplyOnce() async throws {
        try await TestDatabase.withStore { store in
            #expect(try await Migrations.apply(store.pool) == [])
            let versions = try await store.pool.read { connection in
                let result = try connection.execute(sql: "SELECT version FROM schema_migrations ORDER BY version")
                return try (0..<result.rowCount).map { Int(try result.requiredInt64($0, 0)) }
            }
            #expect(versions == Migrations.all.map(\.version))
        }
    }
}
