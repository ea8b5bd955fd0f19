import Crypto
import Foundation
import SiloCore
import SiloTestSupport
import Testing

@testable import SiloS3

/// The aws-chunked decoder: AWS's published example, every framing, splits anywhere, and refusals.
@Suite struct AWSChunkedDecoderTests {
    /// The signer of the S3 reference's chunked-upload example (same key, time and scope as
    /// `SigV4ExampleTests.streamingSeedAndChunkSignatures`, which derives it through the verifier).
    static let exampleSigner = AWSChunkedBody.exampleSigner
    static let exampleScope = AWSChunkedBody.exampleScope

    /// The example body byte for byte, with the signatures AWS published (not ones computed here).
    static let exampleBody: [UInt8] = {
        let a = UInt8(ascii: "a")
        let crlf = AWSChunkedBody.crlf
        return Array("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648".utf8)
            + crlf + [UInt8](repeating: a, count: 65_536) + crlf
            + Array("400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497".utf8)
            + crlf + [UInt8](repeating: a, count: 1024) + crlf
            + Array("0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9".utf8)
            + crlf + crlf
    }()

    static func exampleDecoder(length: Int64? = 66_560) -> AWSChunkedDecoder {
        AWSChunkedDecoder(payload: .streamingSigned, signer: exampleSigner, decodedContentLength: length)
    }

    @Test func awsExampleDecodesInAnySlicing() throws {
        #expect(Self.exampleBody.count == 66_824)  // the example's Content-Length
        var generator = SeededGenerator(seed: 66_560)
        let random = (0..<64).map { _ in Int.random(in: 1...9000, using: &generator) }
        for sizes in [[1], [7], [4096], [66_824], [88, 65_538, 86], random] {
            var decoder = Self.exampleDecoder()
            let payload = try AWSChunkedBody.decode(Self.exampleBody, with: &decoder, sizes: sizes)
            #expect(payload == [UInt8](repeating: UInt8(ascii: "a"), count: 66_560), "slices \(sizes.prefix(4))")
            #expect(decoder.trailers.isEmpty)
        }
    }

    /// The payload is handed on as runs of the input: one per chunk when the body comes in one piece.
    @Test func payloadIsEmittedWithoutCopy() throws {
        var decoder = Self.exampleDecoder()
        var runs: [Range<Int>] = []
        try Self.exampleBody.withUnsafeBytes { body in
            try decoder.decode(body) { run in
                runs.append((run.baseAddress! - body.baseAddress!)..<(run.baseAddress! - body.baseAddress! + run.count))
            }
        }
        try decoder.finish()
        #expect(runs == [88..<65_624, 65_712..<66_736])
    }

    @Test func tamperedExampleIsRefused() {
        // One data byte of the second chunk.
        var body = Self.exampleBody
        body[65_800] = UInt8(ascii: "b")
        var decoder = Self.exampleDecoder()
        #expect(throws: AWSChunkedError.chunkSignatureMismatch(chunkIndex: 1)) {
            try AWSChunkedBody.decode(body, with: &decoder, sizes: [1000])
        }
        #expect(AWSChunkedError.chunkSignatureMismatch(chunkIndex: 1).s3Error.code == .signatureDoesNotMatch)
        // Chunks swapped in order: each signature chains from the one before.
        let crlf = AWSChunkedBody.crlf
        let first = Array(Self.exampleBody[0..<65_626])
        let second = Array(Self.exampleBody[65_626..<66_738])
        var swapped = Self.exampleDecoder()
        #expect(throws: AWSChunkedError.chunkSignatureMismatch(chunkIndex: 0)) {
            try AWSChunkedBody.decode(second + first + Array(Self.exampleBody[66_738...]) + crlf,
                                      with: &swapped, sizes: [4096])
        }
        // The final chunk's signature altered.
        var final = Self.exampleBody
        final[66_757] = final[66_757] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        var finalDecoder = Self.exampleDecoder()
        #expect(throws: AWSChunkedError.chunkSignatureMismatch(chunkIndex: 2)) {
            try AWSChunkedBody.decode(final, with: &finalDecoder, sizes: [4096])
        }
    }

    @Test func decodedLengthIsEnforced() {
        var short = Self.exampleDecoder(length: 66_561)
        #expect(throws: AWSChunkedError.decodedLengthShort(expected: 66_561, received: 66_560)) {
            try AWSChunkedBody.decode(Self.exampleBody, with: &short, sizes: [4096])
        }
        // Too much is refused at the header that announces it, before its data arrives.
        var long = Self.exampleDecoder(length: 65_537)
        var emitted = 0
        #expect(throws: AWSChunkedError.decodedLengthExceeded(expected: 65_537)) {
            try Self.exampleBody[0..<65_712].withUnsafeBytes { slice in
                try long.decode(slice) { emitted += $0.count }
            }
        }
        #expect(emitted == 65_536)
        #expect(AWSChunkedError.decodedLengthShort(expected: 1, received: 0).s3Error.code == .incompleteBody)
    }

    @Test func truncatedBodyIsIncomplete() throws {
        for cut in [0, 1, 87, 88, 65_624, 65_625, 66_822, 66_823] {
            var decoder = Self.exampleDecoder(length: nil)
            #expect(throws: AWSChunkedError.truncated, "cut at \(cut)") {
                try AWSChunkedBody.decode(Array(Self.exampleBody[0..<cut]), with: &decoder, sizes: [5000])
            }
        }
        var extra = Self.exampleDecoder()
        #expect(throws: AWSChunkedError.dataAfterEnd) {
            try AWSChunkedBody.decode(Self.exampleBody + [0x30], with: &extra, sizes: [100_000])
        }
    }

    /// Each algorithm as an unsigned trailer, the way boto3 ≥ 1.36 and the aws cli ≥ 2.23 send it, and
    /// the checksum verified from the decoded payload in the same pass.
    @Test func unsignedTrailerWithEachChecksum() throws {
        let payload = Array("123456789".utf8)
        let expected: [ChecksumAlgorithm: String] = [
            .crc32: ChecksumTests.base64(bigEndian: 0xCBF4_3926, count: 4),
            .crc32c: ChecksumTests.base64(bigEndian: 0xE306_9283, count: 4),
            .crc64NVME: ChecksumTests.base64(bigEndian: 0xAE8B_1486_0A79_9888, count: 8),
            .sha1: Data(Insecure.SHA1.hash(data: payload)).base64EncodedString(),
            .sha256: Data(SHA256.hash(data: payload)).base64EncodedString(),
        ]
        for algorithm in ChecksumAlgorithm.allCases {
            let body = AWSChunkedBody.unsigned([Array(payload[0..<4]), Array(payload[4...])],
                                               trailers: [(algorithm.headerName, expected[algorithm]!)])
            for sizes in [[1], [3], [body.count]] {
                var decoder = AWSChunkedDecoder(payload: .streamingUnsignedTrailer, signer: nil,
                                                decodedContentLength: 9, trailerHeader: algorithm.headerName)
                var checksum = ChecksumComputer(algorithm)
                var output: [UInt8] = []
                try body.withUnsafeBytes { bytes in
                    for start in stride(from: 0, to: bytes.count, by: sizes[0]) {
                        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<min(bytes.count, start + sizes[0])])
                        try decoder.decode(slice) { run in
                            checksum.update(run)
                            output.append(contentsOf: run)
                        }
                    }
                }
                let trailers = try decoder.finish()
                #expect(output == payload)
                #expect(trailers == [AWSChunkedTrailer(name: algorithm.headerName, value: expected[algorithm]!)])
                let value = try #require(decoder.trailerValue(for: algorithm))
                #expect(throws: Never.self) { try checksum.verify(expectedBase64: value) }
            }
        }
    }

    @Test func signedTrailerVerifiesTrailerSignature() throws {
        let payload = [UInt8](repeating: 0x5A, count: 70_000)
        let crc = Data(withUnsafeBytes(of: CRC32C.checksum(payload).bigEndian) { Array($0) }).base64EncodedString()
        let trailers = [("x-amz-checksum-crc32c", crc)]
        let body = AWSChunkedBody.signed([Array(payload[0..<65_536]), Array(payload[65_536...])],
                                         signer: Self.exampleSigner, trailers: trailers)
        func decoder() -> AWSChunkedDecoder {
            AWSChunkedDecoder(payload: .streamingSignedTrailer, signer: Self.exampleSigner,
                              decodedContentLength: 70_000, trailerHeader: "x-amz-checksum-crc32c")
        }
        for sizes in [[1], [7], [4096]] {
            var good = decoder()
            #expect(try AWSChunkedBody.decode(body, with: &good, sizes: sizes) == payload)
            #expect(good.trailerValue(for: .crc32c) == crc)
        }
        // The trailer value changed without re-signing.
        let tampered = AWSChunkedBody.signed([payload], signer: Self.exampleSigner, trailers: [("x-amz-checksum-crc32c", "AAAAAA==")])
        var forged = Array(tampered)
        let at = try #require(forged.firstRange(of: Array("AAAAAA==".utf8)))
        forged[at.lowerBound] = UInt8(ascii: "B")
        var bad = decoder()
        #expect(throws: AWSChunkedError.trailerSignatureMismatch) {
            try AWSChunkedBody.decode(forged, with: &bad, sizes: [4096])
        }
        // The signature line left out.
        var withoutSignature = Array(body)
        let signatureLine = try #require(withoutSignature.firstRange(of: Array("x-amz-trailer-signature:".utf8)))
        withoutSignature.removeSubrange(signatureLine.lowerBound..<(withoutSignature.count - 2))
        var missing = decoder()
        #expect(throws: AWSChunkedError.trailerSignatureMismatch) {
            try AWSChunkedBody.decode(withoutSignature, with: &missing, sizes: [4096])
        }
    }
}
