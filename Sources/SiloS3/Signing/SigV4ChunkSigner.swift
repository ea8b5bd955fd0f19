/// What verifying an aws-chunked body needs after the headers were verified: the signing key, the
/// request's timestamp and scope, and the seed signature the first chunk's signature chains from.
///
/// Each chunk's signature covers the previous signature, so chunks can be neither reordered nor dropped.
/// The aws-chunked parser calls `chunkSignature` per chunk and compares with `constantTimeEqual`.
package struct SigV4ChunkSigner: Sendable {
    let signingKey: [UInt8]
    package let timestamp: String
    package let scope: SigV4Scope
    /// The request's own signature, from which the first chunk's signature chains.
    package let seedSignature: String

    package init(signingKey: [UInt8], timestamp: String, scope: SigV4Scope, seedSignature: String) {
        self.signingKey = signingKey
        self.timestamp = timestamp
        self.scope = scope
        self.seedSignature = seedSignature
    }

    /// The signature of one chunk whose data hashes to `chunkSHA256Hex` (the final, empty chunk included).
    package func chunkSignature(previousSignature: String, chunkSHA256Hex: String) -> String {
        let stringToSign = "AWS4-HMAC-SHA256-PAYLOAD\n" + timestamp + "\n" + scope.scopeString + "\n"
            + previousSignature + "\n" + SigV4Signature.emptySHA256 + "\n" + chunkSHA256Hex
        return SigV4Signature.signature(signingKey: signingKey, stringToSign: stringToSign)
    }

    /// The signature of the trailer of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` body, chained from
    /// the final chunk's signature; `trailerSHA256Hex` hashes the trailer lines as sent (`name:value\n` each).
    package func trailerSignature(previousSignature: String, trailerSHA256Hex: String) -> String {
        let stringToSign = "AWS4-HMAC-SHA256-TRAILER\n" + timestamp + "\n" + scope.scopeString + "\n"
            + previousSignature + "\n" + trailerSHA256Hex
        return SigV4Signature.signature(signingKey: signingKey, stringToSign: stringToSign)
    }

    /// Compares a computed signature with the one a client sent, in constant time.
    package static func constantTimeEqual(_ computed: String, _ received: String) -> Bool {
        Hex.constantTimeEqual(computed, received)
    }
}
