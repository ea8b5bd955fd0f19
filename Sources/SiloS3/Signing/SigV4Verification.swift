/// A request whose signature checked out.
package struct SigV4Verification: Sendable {
    /// The access key that signed the request.
    package let accessKey: String
    /// How the body must still be checked as it streams in.
    package let payload: PayloadHash
    package let isPresigned: Bool
    /// For aws-chunked bodies: the seed signature and signing key each chunk's signature chains from;
    /// nil for SigV2, which signs no body.
    package let chunkSigner: SigV4ChunkSigner?
}
