/// Caps on what an aws-chunked body may make the decoder hold or accept (STYLE.md rule 4: a limit on
/// everything). The defaults leave room for every AWS SDK and the aws cli, which send 64 KiB chunks (8 MiB
/// at most when configured) and one checksum trailer.
package struct AWSChunkedLimits: Sendable, Equatable {
    /// The longest chunk header line, CRLF excluded. A signed one is about 90 bytes
    /// (`10000;chunk-signature=<64 hex>`); the cap stops a client from streaming an endless line.
    package var chunkHeaderBytesMax: Int = 256
    /// The largest chunk. The decoder never buffers a chunk, but each one is hashed before its signature
    /// can be checked, so this bounds how much unverified data flows on before a forgery is caught.
    package var chunkBytesMax: Int = 16 << 20
    /// The trailer lines together, CRLFs included.
    package var trailerBytesMax: Int = 4096
    /// How many trailer lines, the signature line included.
    package var trailerCountMax: Int = 8

    package init() {}

    package init(chunkHeaderBytesMax: Int, chunkBytesMax: Int, trailerBytesMax: Int, trailerCountMax: Int) {
        self.chunkHeaderBytesMax = chunkHeaderBytesMax
        self.chunkBytesMax = chunkBytesMax
        self.trailerBytesMax = trailerBytesMax
        self.trailerCountMax = trailerCountMax
    }
}
