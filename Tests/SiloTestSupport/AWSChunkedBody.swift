import Foundation

@testable import SiloS3

/// Builds aws-chunked bodies the way the AWS SDKs frame them, for the decoder tests.
package enum AWSChunkedBody {
    /// The key pair of the S3 reference's SigV4 examples.
    package static let exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
    package static let exampleSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    /// The signer of the S3 reference's chunked-upload example (same key, time and scope as
    /// `SigV4ExampleTests.streamingSeedAndChunkSignatures`, which derives it through the verifier).
    package static let exampleSigner = SigV4ChunkSigner(
        signingKey: SigV4Signature.signingKey(secretKey: exampleSecretKey, scope: exampleScope),
        timestamp: "20130524T000000Z", scope: exampleScope,
        seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
    package static let exampleScope = SigV4Scope(accessKey: exampleAccessKey, date: "20130524", region: "us-east-1")

    package static let crlf = Array("\r\n".utf8)

    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `hex\r\ndata\r\n`…`0\r\n`, trailer lines, `\r\n`.
    package static func unsigned(_ chunks: [[UInt8]], trailers: [(String, String)]) -> [UInt8] {
        var body: [UInt8] = []
        for chunk in chunks where !chunk.isEmpty {
            body += Array(String(chunk.count, radix: 16).utf8) + crlf + chunk + crlf
        }
        body += Array("0".utf8) + crlf
        for (name, value) in trailers { body += Array("\(name):\(value)".utf8) + crlf }
        return body + crlf
    }

    /// The signed framings; `trailers` nil for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, otherwise the
    /// signed-trailer variant with its `x-amz-trailer-signature`.
    package static func signed(_ chunks: [[UInt8]], signer: SigV4ChunkSigner, trailers: [(String, String)]?) -> [UInt8] {
        var body: [UInt8] = []
        var previous = signer.seedSignature
        for chunk in chunks.filter({ !$0.isEmpty }) + [[]] {
            previous = signer.chunkSignature(previousSignature: previous,
                                             chunkSHA256Hex: SigV4Signature.sha256Hex(chunk))
            body += Array("\(String(chunk.count, radix: 16));chunk-signature=\(previous)".utf8) + crlf
            if !chunk.isEmpty { body += chunk + crlf }
        }
        if let trailers {
            var signed: [UInt8] = []
            for (name, value) in trailers {
                body += Array("\(name):\(value)".utf8) + crlf
                signed += Array("\(name):\(value)\n".utf8)
            }
            let signature = signer.trailerSignature(previousSignature: previous,
                                                    trailerSHA256Hex: SigV4Signature.sha256Hex(signed))
            body += Array("x-amz-trailer-signature:\(signature)".utf8) + crlf
        }
        return body + crlf
    }

    /// Feeds `body` to `decoder` in slices whose sizes cycle through `sizes`, then finishes it; returns
    /// the payload emitted.
    package static func decode(_ body: [UInt8], with decoder: inout AWSChunkedDecoder,
                       sizes: [Int]) throws(AWSChunkedError) -> [UInt8] {
        var output: [UInt8] = []
        var offset = 0
        var turn = 0
        while offset < body.count {
            let end = min(body.count, offset + max(1, sizes[turn % sizes.count]))
            turn += 1
            // withUnsafeBytes rethrows untyped errors, so the typed one travels in a Result.
            let result = body[offset..<end].withUnsafeBytes { slice in
                Result { () throws(AWSChunkedError) in try decoder.decode(slice) { output.append(contentsOf: $0) } }
            }
            try result.get()
            offset = end
        }
        try decoder.finish()
        return output
    }
}
