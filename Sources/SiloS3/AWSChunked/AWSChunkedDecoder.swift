import Crypto

/// Decodes an aws-chunked request body (`Content-Encoding: aws-chunked`) as it arrives, in slices split
/// anywhere, and hands on the object's bytes without copying them.
///
/// The three framings S3 accepts, chosen by `x-amz-content-sha256`:
///
/// | payload                                       | chunk header                           | after the `0` chunk                   |
/// |-----------------------------------------------|----------------------------------------|---------------------------------------|
/// | `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`          | `hex-size;chunk-signature=<64 hex>`    | `\r\n`                                |
/// | `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`  | `hex-size;chunk-signature=<64 hex>`    | `name:value\r\n`…, `x-amz-trailer-signature:<64 hex>\r\n`, `\r\n` |
/// | `STREAMING-UNSIGNED-PAYLOAD-TRAILER`          | `hex-size`                             | `name:value\r\n`…, `\r\n`             |
///
/// Each chunk is `<header>\r\n<data>\r\n`. A chunk's signature chains from the previous one (the first
/// from the request's seed signature), so chunks can be neither altered, reordered nor dropped.
///
/// Payload is emitted before its chunk's signature has been checked (a chunk may be 16 MiB, and holding it
/// back would mean buffering it): a caller must keep nothing it was given until `finish()` returns, which
/// is how the upload path already treats a body (pending until the metadata commit).
///
/// Not `Sendable`: swift-crypto's hash state is not, and one task decodes one body.
package struct AWSChunkedDecoder {
    package let payload: PayloadHash
    package let limits: AWSChunkedLimits
    /// `x-amz-decoded-content-length`, when the request had one.
    package let decodedContentLength: Int64?
    /// The trailer names `x-amz-trailer` announced, lowercased; only these may come, and all of them must.
    package let announcedTrailers: [String]
    let signer: SigV4ChunkSigner?

    /// Payload bytes emitted so far.
    package private(set) var decodedByteCount: Int64 = 0
    /// The trailers received, in order, the signature line excluded. Complete once `finish()` returned.
    package internal(set) var trailers: [AWSChunkedTrailer] = []

    var state: State = .chunkHeader
    /// The header or trailer line being read, without its line end: lines are tiny and may be split.
    var line: [UInt8] = []
    var chunkBytesRemaining = 0
    var chunkIndex = 0
    var chunkHasher = SHA256()
    /// The signature the current chunk's header claims.
    var claimedChunkSignature = ""
    /// The last verified signature, which the next chunk's (or the trailer's) chains from.
    var previousSignature: String
    /// The trailer lines as signed: each `name:value\n` as received.
    var signedTrailerBytes: [UInt8] = []
    var trailerBytes = 0
    var trailerLineCount = 0
    var trailerSignatureVerified = false
    /// The first error; every later call throws it again, so a caller cannot go on by mistake.
    var failure: AWSChunkedError?

    enum State {
        case chunkHeader
        case chunkData
        case chunkDataCR
        case chunkDataLF
        case trailer
        case done
    }

    /// - Parameters:
    ///   - payload: one of the streaming forms (`payload.isStreaming`); the caller picks this decoder for them.
    ///   - signer: from the verified request; required when `payload.hasChunkSignatures`.
    ///   - decodedContentLength: `x-amz-decoded-content-length`, checked as chunks announce their sizes.
    ///   - trailerHeader: the `x-amz-trailer` value, a comma-separated list of names.
    package init(payload: PayloadHash, signer: SigV4ChunkSigner?, decodedContentLength: Int64?,
                trailerHeader: String? = nil, limits: AWSChunkedLimits = AWSChunkedLimits()) {
        precondition(payload.isStreaming, "AWSChunkedDecoder is for aws-chunked payloads only")
        precondition(!payload.hasChunkSignatures || signer != nil, "a signed aws-chunked body needs a signer")
        self.payload = payload
        self.signer = signer
        self.decodedContentLength = decodedContentLength
        self.limits = limits
        self.announcedTrailers = (trailerHeader ?? "").split(separator: ",")
            .map { $0.trimmingSpaces().lowercased() }.filter { !$0.isEmpty }
        self.previousSignature = signer?.seedSignature ?? ""
        line.reserveCapacity(limits.chunkHeaderBytesMax)
    }

    /// Decodes the next slice of the body, calling `emit` with each run of payload in it: sub-ranges of
    /// `input` itself, valid only during the call.
    package mutating func decode(_ input: UnsafeRawBufferPointer,
                                emit: (UnsafeRawBufferPointer) -> Void) throws(AWSChunkedError) {
        if let failure { throw failure }
        do {
            try decodeUnchecked(input, emit: emit)
        } catch {
            failure = error
            throw error
        }
    }

    /// Ends the body: throws unless the final chunk and trailer were complete and the payload had the
    /// announced length. Returns the trailers.
    @discardableResult
    package mutating func finish() throws(AWSChunkedError) -> [AWSChunkedTrailer] {
        if let failure { throw failure }
        do throws(AWSChunkedError) {
            // Lenient on one point: a body that ends right after a complete trailer line, without the empty
            // line that should close the trailer, is taken as complete; nothing is lost or unverified by it.
            if state == .trailer, line.isEmpty, trailerLineCount > 0 { try endOfTrailer() }
            guard state == .done else { throw .truncated }
            return trailers
        } catch {
            failure = error
            throw error
        }
    }

    /// The value of the trailer carrying `algorithm`'s checksum, if one came.
    package func trailerValue(for algorithm: ChecksumAlgorithm) -> String? {
        trailers.first { $0.name == algorithm.headerName }?.value
    }

    private mutating func decodeUnchecked(_ input: UnsafeRawBufferPointer,
                                          emit: (UnsafeRawBufferPointer) -> Void) throws(AWSChunkedError) {
        var index = 0
        while index < input.count {
            switch state {
            case .chunkHeader:
                guard try readLine(input, &index, bytesMax: limits.chunkHeaderBytesMax,
                                   error: .malformedChunk("the chunk header line is too long")) else { return }
                try chunkHeaderRead()
            case .chunkData:
                let count = min(chunkBytesRemaining, input.count - index)
                let run = UnsafeRawBufferPointer(rebasing: input[index..<(index + count)])
                if payload.hasChunkSignatures { chunkHasher.update(bufferPointer: run) }
                emit(run)
                index += count
                chunkBytesRemaining -= count
                decodedByteCount += Int64(count)
                if chunkBytesRemaining == 0 {
                    if payload.hasChunkSignatures { try verifyChunk(sha256Hex: Hex.encode(chunkHasher.finalize())) }
                    state = .chunkDataCR
                }
            case .chunkDataCR, .chunkDataLF:
                let expected = state == .chunkDataCR ? Self.carriageReturn : Self.lineFeed
                guard input[index] == expected else { throw .malformedChunk("chunk data is not followed by CRLF") }
                index += 1
                state = state == .chunkDataCR ? .chunkDataLF : .chunkHeader
            case .trailer:
                let remaining = limits.trailerBytesMax - trailerBytes
                guard try readLine(input, &index, bytesMax: remaining,
                                   error: .malformedTrailer("The trailer is over \(limits.trailerBytesMax) bytes."))
                else { return }
                try trailerLineRead()
            case .done:
                throw .dataAfterEnd
            }
        }
    }

    /// Appends bytes of `input` to `line` up to a line feed; true when the line is complete (then `line`
    /// holds it without CRLF and `index` is past it). A line end other than CRLF is an error.
    private mutating func readLine(_ input: UnsafeRawBufferPointer, _ index: inout Int, bytesMax: Int,
                                   error: AWSChunkedError) throws(AWSChunkedError) -> Bool {
        let rest = input[index...]
        let end = rest.firstIndex(of: Self.lineFeed)
        let taken = (end ?? input.count) - index
        // The cap counts the CR, and is checked before the line completes so an endless line is cut off.
        guard line.count + taken <= bytesMax else { throw error }
        line.append(contentsOf: input[index..<(index + taken)])
        guard let end else {
            index = input.count
            return false
        }
        index = end + 1
        guard line.last == Self.carriageReturn else {
            throw state == .trailer ? .malformedTrailer("A trailer line does not end in CRLF.")
                : .malformedChunk("a chunk header line does not end in CRLF")
        }
        line.removeLast()
        return true
    }

    static let carriageReturn = UInt8(ascii: "\r")
    static let lineFeed = UInt8(ascii: "\n")
}
