import Foundation
import SiloTestSupport
import Testing

@testable import SiloS3

/// Malformed aws-chunked framing: specific refusals, the limits, and random mutations that must end in an
/// error or a correct decode, never a crash or a hang.
@Suite struct AWSChunkedMalformedTests {
    static let signer = AWSChunkedDecoderTests.exampleSigner
    static let payload = Array("The quick brown fox jumps over the lazy dog, twice over.".utf8)
    static let crc = ChecksumTests.base64(bigEndian: UInt64(CRC32.checksum(payload)), count: 4)
    static let signedBody = AWSChunkedBody.signed([Array(payload[0..<20]), Array(payload[20...])], signer: signer,
                                                  trailers: [("x-amz-checksum-crc32", crc)])
    static let unsignedBody = AWSChunkedBody.unsigned([Array(payload[0..<20]), Array(payload[20...])],
                                                      trailers: [("x-amz-checksum-crc32", crc)])

    static func signedDecoder(limits: AWSChunkedLimits = AWSChunkedLimits()) -> AWSChunkedDecoder {
        AWSChunkedDecoder(payload: .streamingSignedTrailer, signer: signer, decodedContentLength: Int64(payload.count),
                          trailerHeader: "x-amz-checksum-crc32", limits: limits)
    }

    static func unsignedDecoder(limits: AWSChunkedLimits = AWSChunkedLimits()) -> AWSChunkedDecoder {
        AWSChunkedDecoder(payload: .streamingUnsignedTrailer, signer: nil, decodedContentLength: Int64(payload.count),
                          trailerHeader: "x-amz-checksum-crc32", limits: limits)
    }

    /// Every split into two slices, and every split of the first slice again, for both framings.
    @Test func everySplitPoint() throws {
        for (body, make) in [(Self.signedBody, { Self.signedDecoder() }), (Self.unsignedBody, { Self.unsignedDecoder() })] {
            for first in 0...body.count {
                for second in stride(from: 0, through: first, by: 9) {
                    var decoder = make()
                    let sizes = [second, first - second, body.count - first].filter { $0 > 0 }
                    #expect(try AWSChunkedBody.decode(body, with: &decoder, sizes: sizes) == Self.payload)
                    #expect(decoder.trailerValue(for: .crc32) == Self.crc)
                }
            }
        }
    }

    static func unsignedError(_ text: String, length: Int64? = nil, trailer: String? = "x-amz-checksum-crc32",
                              limits: AWSChunkedLimits = AWSChunkedLimits()) -> AWSChunkedError? {
        var decoder = AWSChunkedDecoder(payload: .streamingUnsignedTrailer, signer: nil, decodedContentLength: length,
                                        trailerHeader: trailer, limits: limits)
        do {
            _ = try AWSChunkedBody.decode(Array(text.utf8), with: &decoder, sizes: [3])
            return nil
        } catch {
            return error
        }
    }

    @Test func framingErrors() {
        let ok = "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"
        #expect(Self.unsignedError(ok) == nil)
        // Lenient: the closing empty line missing after a complete trailer line.
        #expect(Self.unsignedError("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n") == nil)
        let cases: [(String, S3ErrorCode)] = [
            ("3\nabc\r\n0\r\n\r\n", .invalidRequest),                        // bare LF
            ("g\r\nabc\r\n0\r\n\r\n", .invalidRequest),                      // not hex
            ("\r\n", .invalidRequest),                                       // no size
            ("3;ext=1\r\nabc\r\n0\r\n\r\n", .invalidRequest),                // extension on unsigned
            ("3\r\nabcd\r\n0\r\n\r\n", .invalidRequest),                     // data longer than its size
            ("3\r\nabc\r\n0\r\nnocolon\r\n\r\n", .malformedTrailerError),
            ("3\r\nabc\r\n0\r\nx-amz-checksum-sha256:AAAA\r\n\r\n", .malformedTrailerError),  // not announced
            ("3\r\nabc\r\n0\r\n\r\n", .malformedTrailerError),               // announced, missing
            ("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:a\r\nx-amz-checksum-crc32:a\r\n\r\n", .malformedTrailerError),
            ("3\r\nabc\r\n0\r\nx-amz-trailer-signature:00\r\n\r\n", .malformedTrailerError),
            ("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:\u{7}\r\n\r\n", .malformedTrailerError),
            ("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\nX", .invalidRequest),
            ("3\r\nab", .incompleteBody),
            ("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==", .incompleteBody),
        ]
        for (text, code) in cases {
            #expect(Self.unsignedError(text)?.s3Error.code == code, "\(text.debugDescription)")
        }
        #expect(Self.unsignedError(ok, length: 4) == .decodedLengthShort(expected: 4, received: 3))
        #expect(Self.unsignedError(ok, length: 2) == .decodedLengthExceeded(expected: 2))
    }

    @Test func limits() {
        let limits = AWSChunkedLimits(chunkHeaderBytesMax: 8, chunkBytesMax: 16, trailerBytesMax: 40, trailerCountMax: 1)
        #expect(Self.unsignedError("10\r\n0123456789abcdef\r\n0\r\nx-amz-checksum-crc32:a\r\n\r\n", limits: limits) == nil)
        #expect(Self.unsignedError("11\r\n", limits: limits) == .chunkTooLarge(limitBytes: 16))
        // A run of digits does not overflow: refused as soon as the value passes the cap.
        #expect(Self.unsignedError("ffffffffffffffffffffffff\r\n") == .chunkTooLarge(limitBytes: 16 << 20))
        // An endless header line is cut off at the cap, before its end arrives.
        #expect(Self.unsignedError("000000000", limits: limits)?.s3Error.code == .invalidRequest)
        #expect(Self.unsignedError(String(repeating: "0", count: 300))?.s3Error.code == .invalidRequest)
        #expect(Self.unsignedError("1\r\na\r\n0\r\nx-amz-checksum-crc32:a\r\nx-amz-checksum-sha256:b\r\n\r\n",
                                   trailer: "x-amz-checksum-crc32,x-amz-checksum-sha256",
                                   limits: AWSChunkedLimits(chunkHeaderBytesMax: 8, chunkBytesMax: 16,
                                                            trailerBytesMax: 4096, trailerCountMax: 1))
            == .malformedTrailer("More than 1 trailer lines."))
        let long = "1\r\na\r\n0\r\nx-amz-checksum-crc32:" + String(repeating: "A", count: 40) + "\r\n\r\n"
        #expect(Self.unsignedError(long, limits: limits)?.s3Error.code == .malformedTrailerError)
    }

    /// The plain signed framing has no trailer, and its chunks must carry signatures.
    @Test func signedFramingErrors() {
        func error(_ body: [UInt8]) -> AWSChunkedError? {
            var decoder = AWSChunkedDecoder(payload: .streamingSigned, signer: Self.signer, decodedContentLength: nil)
            do { _ = try AWSChunkedBody.decode(body, with: &decoder, sizes: [4]); return nil } catch { return error }
        }
        let plain = AWSChunkedBody.signed([Self.payload], signer: Self.signer, trailers: nil)
        #expect(error(plain) == nil)
        #expect(error(Array("3\r\nabc\r\n".utf8))?.s3Error.code == .invalidRequest)
        #expect(error(Array("3;chunk-signature=ABC\r\n".utf8))?.s3Error.code == .invalidRequest)
        #expect(error(Array(plain.dropLast(2)) + Array("x-amz-checksum-crc32:a\r\n\r\n".utf8))?.s3Error.code
            == .malformedTrailerError)
    }

    /// Random byte changes, insertions and deletions: each mutant decodes to an error or, for the signed
    /// body, to exactly the original payload (anything else would be a forgery getting through).
    @Test func mutationsNeverCrashOrForge() {
        var generator = SeededGenerator(seed: 0xF022)
        for iteration in 0..<3000 {
            let signed = iteration % 2 == 0
            var body = signed ? Self.signedBody : Self.unsignedBody
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<body.count, using: &generator)
                let byte = [UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: "0"), UInt8(ascii: ":"),
                            UInt8(ascii: ";"), UInt8.random(in: 0...255, using: &generator)].randomElement(using: &generator)!
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: body[at] = byte
                case 1: body.insert(byte, at: at)
                default: body.remove(at: at)
                }
            }
            var decoder = signed ? Self.signedDecoder() : Self.unsignedDecoder()
            let sizes = (0..<8).map { _ in Int.random(in: 1...40, using: &generator) }
            guard let output = try? AWSChunkedBody.decode(body, with: &decoder, sizes: sizes) else { continue }
            #expect(output.count == Self.payload.count)
            if signed {
                #expect(output == Self.payload, "iteration \(iteration)")
                #expect(decoder.trailerValue(for: .crc32) == Self.crc)
            }
        }
    }
}
