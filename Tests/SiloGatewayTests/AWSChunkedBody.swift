import Foundation

@testable import SiloGateway

/// Builds aws-chunked bodies the way the AWS SDKs frame them, for the decoder tests.
enum AWSChunkedBody {
    static let crlf = Array("\r\n".utf8)

    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `hex\r\ndata\r\n`…`0\r\n`, trailer lines, `\r\n`.
    static func unsigned(_ chunks: [[UInt8]], trailers: [(String, String)]) -> [UInt8] {
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
    static func signed(_ chunks: [[UInt8]], signer: SigV4ChunkSigner, trailers: [(String, String)]?) -> [UInt8] {
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
    static func decode(_ body: [UInt8], with decoder: inout AWSChunkedDecoder,
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
