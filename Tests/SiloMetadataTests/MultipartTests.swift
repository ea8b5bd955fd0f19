import SiloCore
import SiloTestSupport
import Testing

@testable import SiloMetadata

@Suite struct MultipartTests {
    /// Uploads a part through the pending path.
    func uploadPart(_ store: MetadataStore, _ upload: MultipartUploadID, _ number: Int, chunks: Int,
                    length: Int64 = 100, crcs: [UInt32]? = nil, objectKey: String = "big") async throws
        -> [ChunkPlacement]
    {
        let placed = placements(chunks, length: length)
        let pending = try await store.beginUpload(bucket: bucket("data"), key: key(objectKey))
        try await store.recordPlacedChunks(pending, placed)
        try await store.commitPart(pending, to: upload, partNumber: number, size: ByteCount(Int64(chunks) * length),
                                   etag: "etag-\(number)", chunkCRC32Cs: crcs)
        return placed
    }

    func complete(_ store: MetadataStore, _ upload: MultipartUploadID, _ parts: [(Int, String)],
                  etag: String = "x", objectKey: String = "big", condition: WriteCondition = .none,
                  partBytesMin: Int64 = 0, objectBytesMax: Int64 = .max) async throws -> CommitResult {
        try await store.completeMultipartUpload(
            upload, bucket: bucket("data"), key: key(objectKey), parts: parts.map { (partNumber: $0.0, etag: $0.1) },
            etag: etag, condition: condition, partBytesMin: partBytesMin, objectBytesMax: objectBytesMax)
    }

    @Test func completeAssemblesChosenPartsAndRetiresTheRest() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"),
                                                               contentType: "video/mp4", userMetadata: ["a": "b"])
            let part1 = try await uploadPart(store, upload, 1, chunks: 2)
            let replaced = try await uploadPart(store, upload, 3, chunks: 1)
            let part3 = try await uploadPart(store, upload, 3, chunks: 3)
            let unused = try await uploadPart(store, upload, 2, chunks: 1)
            #expect(try await store.garbageCount() == replaced.count)
            let all = try await store.listParts(upload, bucket: bucket("data"), key: key("big"))
            #expect(all.entries.map(\.partNumber) == [1, 2, 3] && !all.isTruncated)
            let middle = try await store.listParts(upload, bucket: bucket("data"), key: key("big"), after: 1, maxParts: 1)
            #expect(middle.entries.map(\.partNumber) == [2] && middle.isTruncated)
            #expect(try await store.listMultipartUploads(bucket: bucket("data")).entries.map(\.uploadID) == [upload])

            await #expect(throws: MetadataError.invalidPartOrder) {
                _ = try await complete(store, upload, [(3, "etag-3"), (1, "etag-1")])
            }
            await #expect(throws: MetadataError.invalidPart(partNumber: 3)) {
                _ = try await complete(store, upload, [(1, "etag-1"), (3, "wrong")])
            }
            await #expect(throws: MetadataError.invalidPart(partNumber: 4)) {
                _ = try await complete(store, upload, [(1, "etag-1"), (4, "etag-4")])
            }

            _ = try await complete(store, upload, [(1, "\"etag-1\""), (3, "etag-3")], etag: "x-2")
            let object = try #require(try await store.object(bucket: bucket("data"), key: key("big")))
            #expect(object.attributes.size == ByteCount(500))
            #expect(object.attributes.contentType == "video/mp4")
            #expect(object.attributes.userMetadata == ["a": "b"])
            #expect(object.chunks.map(\.chunkID) == (part1 + part3).map(\.chunkID))
            #expect(object.chunks.map(\.index) == Array(0..<5))
            #expect(object.chunks.map(\.offset.bytes) == [0, 100, 200, 300, 400])
            let garbage = try await store.claimGarbage(count: 100, lease: .seconds(60))
            #expect(Set(garbage.map(\.chunkID)) == Set((replaced + unused).map(\.chunkID)))
            await #expect(throws: MetadataError.noSuchUpload(upload.value)) {
                _ = try await store.listParts(upload, bucket: bucket("data"), key: key("big"))
            }
        }
    }

    @Test func abortRetiresEveryPart() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"))
            _ = try await uploadPart(store, upload, 1, chunks: 2)
            _ = try await uploadPart(store, upload, 2, chunks: 2)
            await #expect(throws: MetadataError.noSuchUpload(upload.value)) {
                try await store.abortMultipartUpload(upload, bucket: bucket("data"), key: key("other"))
            }
            try await store.abortMultipartUpload(upload, bucket: bucket("data"), key: key("big"))
            #expect(try await store.garbageCount() == 4)
            await #expect(throws: MetadataError.noSuchUpload(upload.value)) {
                try await store.abortMultipartUpload(upload, bucket: bucket("data"), key: key("big"))
            }
            #expect(try await store.listMultipartUploads(bucket: bucket("data")).entries.isEmpty)
            try await store.deleteBucket(bucket("data"))
        }
    }

    /// Every refusal of a completion leaves the upload as it was, to be completed right afterwards.
    @Test func completionRefusalsChangeNothing() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"))
            _ = try await uploadPart(store, upload, 1, chunks: 2)  // 200 bytes
            _ = try await uploadPart(store, upload, 2, chunks: 1)  // 100 bytes
            let parts = [(1, "etag-1"), (2, "etag-2")]
            await #expect(throws: MetadataError.noSuchUpload(upload.value)) {
                _ = try await complete(store, upload, parts, objectKey: "other")
            }
            await #expect(throws: MetadataError.noSuchUpload("nope")) {
                _ = try await store.completeMultipartUpload(MultipartUploadID("nope"), bucket: bucket("data"),
                                                            key: key("big"), parts: [(1, "etag-1")], etag: "x")
            }
            // Only parts before the last must reach the minimum.
            await #expect(throws: MetadataError.entityTooSmall(partNumber: 1, size: ByteCount(200))) {
                _ = try await complete(store, upload, parts, partBytesMin: 201)
            }
            await #expect(throws: MetadataError.entityTooLarge(size: ByteCount(300))) {
                _ = try await complete(store, upload, parts, objectBytesMax: 299)
            }
            await #expect(throws: MetadataError.noSuchKey) {
                _ = try await complete(store, upload, parts, condition: WriteCondition(ifMatch: "anything"))
            }
            #expect(try await store.listParts(upload, bucket: bucket("data"), key: key("big")).entries.count == 2)
            #expect(try await store.object(bucket: bucket("data"), key: key("big")) == nil)
            #expect(try await store.garbageCount() == 0)

            _ = try await complete(store, upload, parts, condition: WriteCondition(ifNoneMatch: true),
                                   partBytesMin: 200, objectBytesMax: 300)
            let object = try #require(try await store.object(bucket: bucket("data"), key: key("big")))
            #expect(object.attributes.size == ByteCount(300) && object.chunks.count == 3)
        }
    }

    @Test func partChunksKeepTheirChecksumsAndBelongToTheUploadsKey() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"))
            _ = try await uploadPart(store, upload, 1, chunks: 2, crcs: [7, 8])
            // A part whose pending upload names another key is no part of this upload.
            await #expect(throws: MetadataError.noSuchUpload(upload.value)) {
                _ = try await uploadPart(store, upload, 2, chunks: 1, objectKey: "other")
            }
            #expect(try await store.multipartUpload(upload, bucket: bucket("data"), key: key("big")) != nil)
            #expect(try await store.multipartUpload(upload, bucket: bucket("data"), key: key("other")) == nil)
            _ = try await complete(store, upload, [(1, "etag-1")])
            let object = try #require(try await store.object(bucket: bucket("data"), key: key("big")))
            #expect(object.chunks.map(\.crc32c) == [7, 8])
            #expect(try await store.multipartUpload(upload, bucket: bucket("data"), key: key("big")) == nil)
        }
    }

    @Test func listMultipartUploadsFollowsS3Markers() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            var uploads: [(key: String, id: String)] = []
            for name in ["a", "b", "b", "c/d", "c/e"] {
                let id = try await store.createMultipartUpload(bucket: bucket("data"), key: key(name))
                uploads.append((name, id.value))
            }
            uploads.sort { ($0.key, $0.id) < ($1.key, $1.id) }
            func list(prefix: String = "", keyMarker: String = "", uploadIDMarker: String = "", max: Int = 1000)
                async throws -> ([String], Bool)
            {
                let page = try await store.listMultipartUploads(bucket: bucket("data"), prefix: prefix,
                                                                keyMarker: keyMarker, uploadIDMarker: uploadIDMarker,
                                                                maxUploads: max)
                return (page.entries.map(\.uploadID.value), page.isTruncated)
            }
            #expect(try await list() == (uploads.map(\.id), false))
            #expect(try await list(max: 2) == (uploads.prefix(2).map(\.id), true))
            #expect(try await list(prefix: "c/") == (uploads.suffix(2).map(\.id), false))
            // A key marker alone skips that key's uploads; with an upload id marker, only those up to the id.
            #expect(try await list(keyMarker: "b") == (uploads.suffix(2).map(\.id), false))
            #expect(try await list(keyMarker: "b", uploadIDMarker: uploads[1].id) == (uploads.suffix(3).map(\.id), false))
            await #expect(throws: MetadataError.noSuchBucket(bucket("nope"))) {
                _ = try await store.listMultipartUploads(bucket: bucket("nope"))
            }
        }
    }

    @Test func janitorAbortsOnlyUploadsPastTheAge() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let old = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"))
            _ = try await uploadPart(store, old, 1, chunks: 2)
            #expect(try await store.reapAbandonedMultipartUploads(olderThan: .seconds(3600), limit: 10) == 0)
            try await Task.sleep(for: .seconds(1))
            let young = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"))
            #expect(try await store.reapAbandonedMultipartUploads(olderThan: .milliseconds(500), limit: 10) == 1)
            #expect(try await store.multipartUpload(old, bucket: bucket("data"), key: key("big")) == nil)
            #expect(try await store.multipartUpload(young, bucket: bucket("data"), key: key("big")) != nil)
            #expect(try await store.garbageCount() == 2)
        }
    }
}
