import Crypto
import Foundation
import Logging
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

@Suite struct MultipartETagTests {
    /// Worked by hand with MD5: md5("hello"), md5("world"), and the MD5 of their 32 binary bytes.
    @Test func twoPartsAsS3ComputesThem() {
        let parts = ["5d41402abc4b2a76b9719d911017c592", "\"7d793037a0760186574b0282f2f435e7\""]
        #expect(MultipartETag.compute(partETags: parts) == "065947336a2f2a95ba8899f3675c3be6-2")
    }

    /// Three 5 MiB parts of zeros (the aws cli's smallest multipart upload), and one empty part.
    @Test func knownValues() {
        let zeros = md5Hex([UInt8](repeating: 0, count: 5 << 20))
        #expect(zeros == "5f363e0e58a95f06cbe9bbc662c5dfb6")
        #expect(MultipartETag.compute(partETags: [zeros, zeros, zeros]) == "6157b0baa656d2aa57ff2e409c82810a-3")
        #expect(MultipartETag.compute(partETags: [md5Hex([])]) == "59adb24ef3cdbe0297f05b395827453f-1")
    }

    @Test func etagsThatAreNoMD5AreRefused() {
        #expect(MultipartETag.compute(partETags: ["5d41402abc4b2a76b9719d911017c592-2"]) == nil)
        #expect(MultipartETag.compute(partETags: ["zz41402abc4b2a76b9719d911017c592"]) == nil)
        #expect(MultipartETag.compute(partETags: [""]) == nil)
    }
}

@Suite struct CopySourceTests {
    @Test func headerForms() throws {
        let plain = try CopySource(header: "src/dir/a%20b.txt")
        #expect(plain.bucket.value == "src" && plain.key.value == "dir/a b.txt")
        let slashed = try CopySource(header: "/src/k%2Fx?versionId=null")
        #expect(slashed.bucket.value == "src" && slashed.key.value == "k/x")
        #expect(throws: S3Error.self) { try CopySource(header: "no-key") }
        #expect(throws: S3Error.self) { try CopySource(header: "/src/") }
        #expect((try? CopySource(header: "src/k?versionId=3HL4kqtJ")) == nil)
    }

    @Test func ranges() throws {
        let size = ByteCount(100)
        #expect(try CopySource.range(header: "bytes=0-99", objectSize: size) == ByteRange(offset: .zero, length: size))
        #expect(try CopySource.range(header: "bytes=10-10", objectSize: size)
                == ByteRange(offset: ByteCount(10), length: ByteCount(1)))
        for bad in ["bytes=0-100", "bytes=5-4", "bytes=-5", "bytes=5-", "0-5", "bytes=a-b", "bytes=0-1,3-4"] {
            #expect(throws: S3Error.self, "\(bad)") { try CopySource.range(header: bad, objectSize: size) }
        }
    }
}

/// Multipart uploads and copies over the real pipelines: parts stream like objects, completion makes one
/// version of their chunks in order, and downloads (ranges included) read across part boundaries.
@Suite(.timeLimit(.minutes(2))) struct MultipartPipelineTests {
    func uploadPart(_ cluster: PipelineCluster, _ upload: MultipartUploadID, _ number: Int, _ data: [UInt8],
                    key: String = "mp") async throws -> UploadedObject {
        try await cluster.upload(data, key: key) { request in
            request.destination = .part(upload, partNumber: number)
        }
    }

    @Test func partsAssembleIntoOneObjectReadAcrossBoundaries() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            // Parts that end mid-chunk, on a chunk boundary, and a short last one.
            let sizes = [chunk + 1_234, 2 * chunk, chunk / 3]
            let parts = sizes.enumerated().map { seededBytes($1, seed: 40 + UInt64($0)) }
            let upload = try await cluster.store.createMultipartUpload(bucket: cluster.bucket, key: try ObjectKey("mp"),
                                                                       contentType: "application/x-mp")
            // Part 2 first uploaded with other bytes, then replaced: the first one's chunks go to GC.
            _ = try await uploadPart(cluster, upload, 2, seededBytes(chunk / 2, seed: 99))
            var etags: [Int: String] = [:]
            for (index, data) in parts.enumerated().reversed() {
                let uploaded = try await uploadPart(cluster, upload, index + 1, data)
                #expect(uploaded.etag == md5Hex(data) && uploaded.versionID == nil)
                etags[index + 1] = uploaded.etag
            }
            #expect(try await cluster.object("mp") == nil, "parts are no object before the completion")
            let listed = try await cluster.store.listParts(upload, bucket: cluster.bucket, key: try ObjectKey("mp"))
            #expect(listed.entries.map(\.etag) == [etags[1], etags[2], etags[3]])
            #expect(listed.entries.map(\.size.bytes) == sizes.map(Int64.init))

            let etag = try #require(MultipartETag.compute(partETags: (1...3).map { etags[$0]! }))
            _ = try await cluster.store.completeMultipartUpload(
                upload, bucket: cluster.bucket, key: try ObjectKey("mp"), parts: (1...3).map { ($0, etags[$0]!) },
                etag: etag, partBytesMin: Int64(chunk), objectBytesMax: cluster.limits.objectBytesMax)
            #expect(etag.hasSuffix("-3"))
            let whole = parts.flatMap { $0 }
            let object = try #require(try await cluster.object("mp"))
            #expect(object.attributes.etag == etag && object.attributes.contentType == "application/x-mp")
            #expect(object.attributes.size == ByteCount(whole.count))
            for chunkRecord in object.chunks {
                let start = Int(chunkRecord.offset.bytes)
                let slice = Array(whole[start..<(start + Int(chunkRecord.length.bytes))])
                #expect(chunkRecord.crc32c == CRC32C.checksum(slice), "chunk \(chunkRecord.index)'s CRC32C")
            }
            #expect(try await cluster.download(object) == whole)
            let boundary = sizes[0]
            for (offset, length) in [(boundary - 10, 20), (boundary - 1, sizes[1] + 2), (0, whole.count),
                                     (whole.count - 5, 5), (boundary + sizes[1], sizes[2])] {
                let range = ByteRange(offset: ByteCount(offset), length: ByteCount(length))
                #expect(try await cluster.download(object, range: range) == Array(whole[offset..<(offset + length)]),
                        "range \(offset)+\(length)")
            }
            // Only the object's chunks stay on the nodes once GC ran: the replaced part's are gone.
            try await cluster.collectUntilEmpty()
            let onNodes = cluster.chunkFilesByNode.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            #expect(onNodes == Set(object.chunks.map(\.chunkID.value)))
        }
    }

    @Test func completionRefusalsAreS3Errors() async throws {
        try await PipelineCluster.with { cluster in
            let key = try ObjectKey("mp")
            let upload = try await cluster.store.createMultipartUpload(bucket: cluster.bucket, key: key)
            let small = try await uploadPart(cluster, upload, 1, seededBytes(1_000, seed: 1))
            let last = try await uploadPart(cluster, upload, 2, seededBytes(500, seed: 2))
            func complete(_ body: String, partBytesMin: Int64 = 1) async throws {
                let request = try CompleteMultipartUploadRequest(xml: Array(body.utf8))
                let etag = try #require(MultipartETag.compute(partETags: request.parts.map(\.etag)))
                _ = try await cluster.store.completeMultipartUpload(
                    upload, bucket: cluster.bucket, key: key, parts: request.parts.map { ($0.partNumber, $0.etag) },
                    etag: etag, partBytesMin: partBytesMin)
            }
            /// What refused the completion: the document (an `S3Error` of the protocol layer) or the store
            /// (a `MetadataError`, which the HTTP edge maps: SiloHTTPTests' `ErrorMappingTests`).
            func refusal(_ body: String, partBytesMin: Int64 = 1) async -> (any Error)? {
                do {
                    try await complete(body, partBytesMin: partBytesMin)
                    return nil
                } catch {
                    return error
                }
            }
            func code(_ body: String, partBytesMin: Int64 = 1) async -> S3ErrorCode? {
                (await refusal(body, partBytesMin: partBytesMin) as? S3Error)?.code
            }
            func metadata(_ body: String, partBytesMin: Int64 = 1) async -> MetadataError? {
                await refusal(body, partBytesMin: partBytesMin) as? MetadataError
            }
            func part(_ number: Int, _ etag: String) -> String {
                "<Part><PartNumber>\(number)</PartNumber><ETag>&quot;\(etag)&quot;</ETag></Part>"
            }
            func document(_ parts: String...) -> String {
                "<CompleteMultipartUpload>" + parts.joined() + "</CompleteMultipartUpload>"
            }
            #expect(await code(document(part(2, last.etag), part(1, small.etag))) == .invalidPartOrder)
            #expect(await metadata(document(part(1, small.etag), part(3, last.etag))) == .invalidPart(partNumber: 3))
            #expect(await metadata(document(part(1, last.etag), part(2, last.etag))) == .invalidPart(partNumber: 1))
            #expect(await metadata(document(part(1, small.etag), part(2, last.etag)), partBytesMin: 1_001)
                == .entityTooSmall(partNumber: 1, size: ByteCount(1_000)))
            #expect(await code("<CompleteMultipartUpload><Part></CompleteMultipartUpload>") == .malformedXML)
            #expect(await code(document()) == .malformedXML)
            #expect(await code(document(part(0, small.etag))) == .invalidArgument)
            // The last part may be small; so may a single one.
            #expect(await refusal(document(part(1, small.etag), part(2, last.etag)), partBytesMin: 1_000) == nil)
            #expect(await metadata(document(part(1, small.etag))).map { if case .noSuchUpload = $0 { true } else { false } } == true)
        }
    }

    /// Four PutObjects with `If-None-Match: *` at once: one commits, three get PreconditionFailed, and
    /// GC removes every chunk the refused ones placed.
    @Test func racingConditionalCreatesLeaveOneObjectAndNoOrphans() async throws {
        try await PipelineCluster.with { cluster in
            let bodies = (0..<4).map { seededBytes(100_000 + $0, seed: 70 + UInt64($0)) }
            let outcomes = await withTaskGroup(of: (Int, Result<UploadedObject, any Error>).self) { group in
                for (index, data) in bodies.enumerated() {
                    group.addTask {
                        do {
                            return (index, .success(try await cluster.upload(data, key: "lock") { request in
                                request.destination = .object(WriteCondition(ifNoneMatch: true))
                            }))
                        } catch {
                            return (index, .failure(error))
                        }
                    }
                }
                var outcomes: [(Int, Result<UploadedObject, any Error>)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            let winners = outcomes.filter { if case .success = $0.1 { true } else { false } }.map(\.0)
            #expect(winners.count == 1)
            for case (_, .failure(let error)) in outcomes {
                #expect(error as? MetadataError == .preconditionFailed)
            }
            let object = try #require(try await cluster.object("lock"))
            #expect(try await cluster.download(object) == bodies[winners[0]])
            try await cluster.collectUntilEmpty()
            let onNodes = cluster.chunkFilesByNode.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            #expect(onNodes == Set(object.chunks.map(\.chunkID.value)))
        }
    }

    /// A server-side copy: the source's bytes stream from its replicas into new chunks of the target.
    @Test func copyStreamsIntoNewChunks() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(300_000, seed: 5)
            try await cluster.upload(data, key: "source")
            let source = try #require(try await cluster.object("source"))
            for (key, range) in [("whole", ByteRange(offset: .zero, length: source.attributes.size)),
                                 ("middle", ByteRange(offset: ByteCount(65_000), length: ByteCount(70_000)))] {
                let started = try await cluster.downloads.start(source, range: range)
                var request = UploadRequest(bucket: cluster.bucket, key: try ObjectKey(key))
                request.contentLength = range.length.bytes
                let copied = try await cluster.uploads.upload(request, body: CopySourceBody(started: started))
                let expected = Array(data[Int(range.offset.bytes)..<Int(range.offset.bytes + range.length.bytes)])
                #expect(copied.etag == md5Hex(expected))
                let target = try #require(try await cluster.object(key))
                #expect(Set(target.chunks.map(\.chunkID)).isDisjoint(with: source.chunks.map(\.chunkID)))
                #expect(try await cluster.download(target) == expected)
            }
        }
    }
}
