import Foundation
import NIOCore
import SiloCore
import SiloTestSupport
import Testing

@testable import SiloHTTP
@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// The body the upload pipeline stores from an aws-chunked request: the payload only, whatever the
/// buffers the socket delivered, and the S3 error a client expects for every broken framing.
struct UploadBodyTests {
    static let payload = seededBytes(70_001, seed: 77)

    static func decoding(_ payload: PayloadHash, trailer: String?, length: Int64?,
                         trailers: ReceivedTrailers = ReceivedTrailers()) -> UploadBody<BufferSequence>.Decoding {
        .init(payload: payload, signer: payload.hasChunkSignatures ? AWSChunkedBody.exampleSigner : nil,
              decodedContentLength: length, trailerHeader: trailer, trailers: trailers)
    }

    static func drain(_ body: UploadBody<BufferSequence>) async throws -> [UInt8] {
        var output: [UInt8] = []
        for try await buffer in body { output.append(contentsOf: buffer.readableBytesView) }
        return output
    }

    @Test func unsignedTrailerBodySplitAtEveryBoundaryYieldsThePayload() async throws {
        let small = Array(Self.payload.prefix(300))
        let crc = crc32cBase64(small)
        let framed = AWSChunkedBody.unsigned([Array(small.prefix(100)), Array(small.dropFirst(100))],
                                             trailers: [("x-amz-checksum-crc32c", crc)])
        for cut in 0...framed.count {
            let trailers = ReceivedTrailers()
            let buffers = [ByteBuffer(bytes: framed[..<cut]), ByteBuffer(bytes: framed[cut...])]
            let body = UploadBody(base: BufferSequence(buffers: buffers), decoding: Self.decoding(
                .streamingUnsignedTrailer, trailer: "x-amz-checksum-crc32c", length: 300, trailers: trailers))
            #expect(try await Self.drain(body) == small, "cut at \(cut)")
            #expect(trailers.value(named: "x-amz-checksum-crc32c") == crc)
        }
    }

    @Test func signedBodyInOddPiecesYieldsThePayload() async throws {
        let framed = AWSChunkedBody.signed([Array(Self.payload.prefix(65_536)), Array(Self.payload.dropFirst(65_536))],
                                           signer: AWSChunkedBody.exampleSigner, trailers: nil)
        let body = UploadBody(base: BufferSequence(framed, pieceSizes: oddPieceSizes),
                              decoding: Self.decoding(.streamingSigned, trailer: nil, length: Int64(Self.payload.count)))
        #expect(try await Self.drain(body) == Self.payload)
    }

    @Test func brokenBodiesEndInTheirS3Errors() async throws {
        let signer = AWSChunkedBody.exampleSigner
        var tampered = AWSChunkedBody.signed([Self.payload], signer: signer, trailers: nil)
        tampered[200] ^= 1
        let full = AWSChunkedBody.signed([Self.payload], signer: signer, trailers: nil)
        let oversizeHeader = Array(String(repeating: "f", count: 300).utf8) + AWSChunkedBody.crlf
        let cases: [(String, [UInt8], PayloadHash, Int64?, S3ErrorCode)] = [
            ("a data byte changed", tampered, .streamingSigned, nil, .signatureDoesNotMatch),
            ("cut before the final chunk", Array(full.prefix(full.count - 100)), .streamingSigned, nil, .incompleteBody),
            ("longer than announced", full, .streamingSigned, Int64(Self.payload.count - 1), .incompleteBody),
            ("shorter than announced", full, .streamingSigned, Int64(Self.payload.count + 1), .incompleteBody),
            ("an endless chunk header", oversizeHeader, .streamingUnsignedTrailer, nil, .invalidRequest),
            ("bytes after the end", full + [0x41], .streamingSigned, nil, .invalidRequest),
        ]
        for (what, framed, payload, length, code) in cases {
            let body = UploadBody(base: BufferSequence(framed, pieceSizes: [4096]),
                                  decoding: Self.decoding(payload, trailer: nil, length: length))
            do {
                _ = try await Self.drain(body)
                Issue.record("\(what): accepted")
            } catch let error as S3Error {
                #expect(error.code == code, "\(what): \(error)")
            }
        }
    }

    @Test func plainBodiesPassThroughUntouched() async throws {
        let body = UploadBody(base: BufferSequence(Self.payload, pieceSizes: oddPieceSizes), decoding: nil)
        #expect(try await Self.drain(body) == Self.payload)
    }
}

/// aws-chunked bodies with checksums through the real upload pipeline: the object holds the payload,
/// the checksum is verified and recorded, and a wrong one leaves nothing visible.
@Suite(.timeLimit(.minutes(1))) struct ChecksummedUploadTests {
    @Test func trailerChecksumIsVerifiedAndRecorded() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes((1 << 20) + 4_321, seed: 9)
            let crc = crc32cBase64(data)
            let trailers = ReceivedTrailers()
            let framed = AWSChunkedBody.unsigned(stride(from: 0, to: data.count, by: 65_536).map {
                Array(data[$0..<min(data.count, $0 + 65_536)])
            }, trailers: [("x-amz-checksum-crc32c", crc)])
            var request = UploadRequest(bucket: cluster.bucket, key: try ObjectKey("chunked"))
            request.contentLength = Int64(data.count)
            request.checksumAlgorithm = .crc32c
            request.expectedChecksum = { trailers.value(named: "x-amz-checksum-crc32c") }
            let body = UploadBody(base: BufferSequence(framed, pieceSizes: oddPieceSizes), decoding: UploadBodyTests.decoding(
                .streamingUnsignedTrailer, trailer: "x-amz-checksum-crc32c", length: Int64(data.count), trailers: trailers))
            let uploaded = try await cluster.uploads.upload(request, body: body)
            #expect(uploaded.etag == md5Hex(data))
            #expect(uploaded.checksum == crc)
            let object = try #require(try await cluster.object("chunked"))
            #expect(object.attributes.checksums == ["crc32c": crc])
            #expect(try await cluster.download(object) == data)
        }
    }

    @Test(arguments: ChecksumAlgorithm.allCases)
    func wrongChecksumIsBadDigestAndLeavesNothing(algorithm: ChecksumAlgorithm) async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(200_000, seed: 10)
            var wrong = ChecksumComputer(algorithm)
            wrong.update(Array(data.dropLast()))
            var request = UploadRequest(bucket: cluster.bucket, key: try ObjectKey("wrong"))
            request.contentLength = Int64(data.count)
            request.checksumAlgorithm = algorithm
            let value = wrong.base64Digest
            request.expectedChecksum = { value }
            do {
                _ = try await cluster.uploads.upload(request, body: BufferSequence(data, pieceSizes: oddPieceSizes))
                Issue.record("a wrong \(algorithm) was accepted")
            } catch let error as ChecksumError {
                #expect(error == .mismatch(algorithm))
                #expect(error.s3Error.code == .badDigest)
            }
            #expect(try await cluster.object("wrong") == nil)

            var right = ChecksumComputer(algorithm)
            right.update(data)
            let good = right.base64Digest
            request.expectedChecksum = { good }
            let uploaded = try await cluster.uploads.upload(request, body: BufferSequence(data, pieceSizes: oddPieceSizes))
            #expect(uploaded.checksum == good)
        }
    }
}

func crc32cBase64(_ bytes: [UInt8]) -> String {
    var computer = ChecksumComputer(.crc32c)
    computer.update(bytes)
    return computer.base64Digest
}
