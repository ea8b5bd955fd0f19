/// A request whose signature checked out.
public struct SigV4Verification: Sendable {
    /// The access key that signed the request.
    public let accessKey: String
    /// How the body must still be checked as it streams in.
    public let payload: PayloadHash
    public let isPresigned: Bool
    /// For aws-chunked bodies: the seed signature and signing key each chunk's signature chains from;
    /// nil for SigV2, which signs no body.
    public let chunkSigner: SigV4ChunkSigner?
}
