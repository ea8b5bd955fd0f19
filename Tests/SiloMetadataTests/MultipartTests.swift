import SiloCore
import Testing

@testable import SiloMetadata

@Suite struct MultipartTests {
    /// Uploads a part through the pending path.
    func uploadPart(_ store: MetadataStore, _ upload: MultipartUploadID, _ number: Int, chunks: Int,
                    length: Int64 = 100) async throws -> [ChunkPlacement] {
        let placed = placements(chunks, length: length)
        let pending = try await store.beginUpload(bucket: bucket("data"), key: key("big"))
        try await store.recordPlacedChunks(pending, placed)
        try await store.commitPart(pending, to: upload, partNumber: number, size: ByteCount(Int64(chunks) * length),
                                   etag: "etag-\(number)")
        return placed
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
            #expect(try await store.listParts(upload).map(\.partNumber) == [1, 2, 3])
            #expect(try await store.listParts(upload, after: 1, maxParts: 1).map(\.partNumber) == [2])
            #expect(try await store.listMultipartUploads(bucket: bucket("data")).map(\.uploadID) == [upload])

            await #expect(throws: MetadataError.invalidPartOrder) {
                _ = try await store.completeMultipartUpload(upload, parts: [(3, "etag-3"), (1, "etag-1")], etag: "x")
            }
            await #expect(throws: MetadataError.invalidPart(partNumber: 3)) {
                _ = try await store.completeMultipartUpload(upload, parts: [(1, "etag-1"), (3, "wrong")], etag: "x")
            }
            await #expect(throws: MetadataError.invalidPart(partNumber: 4)) {
                _ = try await store.completeMultipartUpload(upload, parts: [(1, "etag-1"), (4, "etag-4")], etag: "x")
            }

            _ = try await store.completeMultipartUpload(upload, parts: [(1, "\"etag-1\""), (3, "etag-3")], etag: "x-2")
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
                _ = try await store.listParts(upload)
            }
        }
    }

    @Test func abortRetiresEveryPart() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.createMultipartUpload(bucket: bucket("data"), key: key("big"))
            _ = try await uploadPart(store, upload, 1, chunks: 2)
            _ = try await uploadPart(store, upload, 2, chunks: 2)
            try await store.abortMultipartUpload(upload)
            #expect(try await store.garbageCount() == 4)
            await #expect(throws: MetadataError.noSuchUpload(upload.value)) {
                try await store.abortMultipartUpload(upload)
            }
            #expect(try await store.listMultipartUploads(bucket: bucket("data")).isEmpty)
            try await store.deleteBucket(bucket("data"))
        }
    }
}
