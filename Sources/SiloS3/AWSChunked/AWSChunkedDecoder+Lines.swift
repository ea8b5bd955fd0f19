/// The chunk header and trailer lines of an aws-chunked body, and the signatures they carry.
extension AWSChunkedDecoder {
    static let signaturePrefix = Array(";chunk-signature=".utf8)
    static let trailerSignatureName = "x-amz-trailer-signature"

    /// Reads `hex-size[;chunk-signature=<sig>]` from `line` and sets up the chunk.
    mutating func chunkHeaderRead() throws(AWSChunkedError) {
        defer { line.removeAll(keepingCapacity: true) }
        let sizeEnd = line.firstIndex(of: UInt8(ascii: ";")) ?? line.endIndex
        guard sizeEnd > 0 else { throw .malformedChunk("a chunk header has no size") }
        var size = 0
        for digit in line[..<sizeEnd] {
            guard let value = Hex.value(digit) else { throw .malformedChunk("a chunk size is not hexadecimal") }
            size = size * 16 + Int(value)
            // Checked per digit, so that a long run of digits cannot overflow.
            guard size <= limits.chunkBytesMax else { throw .chunkTooLarge(limitBytes: limits.chunkBytesMax) }
        }
        let extensions = line[sizeEnd...]
        if payload.hasChunkSignatures {
            guard extensions.starts(with: Self.signaturePrefix),
                  case let signature = String(decoding: extensions.dropFirst(Self.signaturePrefix.count),
                                              as: UTF8.self),
                  Hex.isLowercase(signature, count: 64)
            else { throw .malformedChunk("a chunk header has no chunk-signature") }
            claimedChunkSignature = signature
        } else {
            // Unsigned framings carry no extensions; refusing them keeps the grammar one line long.
            guard extensions.isEmpty else { throw .malformedChunk("an unsigned chunk header has extensions") }
        }
        if let expected = decodedContentLength, decodedByteCount + Int64(size) > expected {
            throw .decodedLengthExceeded(expected: expected)
        }
        if size == 0 {
            // The final chunk: no data and no CRLF after it; the trailer (maybe empty) follows at once.
            if payload.hasChunkSignatures { try verifyChunk(sha256Hex: SigV4Signature.emptySHA256) }
            state = .trailer
        } else {
            chunkBytesRemaining = size
            chunkHasher = .init()
            state = .chunkData
        }
    }

    /// Checks the current chunk's claimed signature and makes it the one the next chains from.
    mutating func verifyChunk(sha256Hex: String) throws(AWSChunkedError) {
        guard let signer else { throw .chunkSignatureMismatch(chunkIndex: chunkIndex) }
        let computed = signer.chunkSignature(previousSignature: previousSignature, chunkSHA256Hex: sha256Hex)
        guard SigV4ChunkSigner.constantTimeEqual(computed, claimedChunkSignature) else {
            throw .chunkSignatureMismatch(chunkIndex: chunkIndex)
        }
        previousSignature = computed
        chunkIndex += 1
    }

    /// Handles one complete trailer line in `line`; an empty one ends the body.
    mutating func trailerLineRead() throws(AWSChunkedError) {
        defer { line.removeAll(keepingCapacity: true) }
        // The line and its CRLF count toward the trailer's byte cap.
        trailerBytes += line.count + 2
        guard !line.isEmpty else { return try endOfTrailer() }
        guard payload != .streamingSigned else {
            throw .malformedTrailer("STREAMING-AWS4-HMAC-SHA256-PAYLOAD has no trailer.")
        }
        trailerLineCount += 1
        guard trailerLineCount <= limits.trailerCountMax else {
            throw .malformedTrailer("More than \(limits.trailerCountMax) trailer lines.")
        }
        guard !trailerSignatureVerified else {
            throw .malformedTrailer("A trailer line follows x-amz-trailer-signature.")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")),
              line.allSatisfy({ $0 == UInt8(ascii: "\t") || (0x20..<0x7F).contains($0) })
        else { throw .malformedTrailer("A trailer line is not name:value in ASCII.") }
        let name = String(decoding: line[..<colon], as: UTF8.self).trimmingSpaces().lowercased()
        let value = String(String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces())
        guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" }) else {
            throw .malformedTrailer("A trailer name is empty or has spaces.")
        }
        if name == Self.trailerSignatureName {
            guard payload == .streamingSignedTrailer else {
                throw .malformedTrailer("An unsigned body carries x-amz-trailer-signature.")
            }
            try verifyTrailerSignature(value)
            return
        }
        guard announcedTrailers.contains(name) else {
            throw .malformedTrailer("The trailer \(name) was not announced in x-amz-trailer.")
        }
        guard !trailers.contains(where: { $0.name == name }) else {
            throw .malformedTrailer("The trailer \(name) comes twice.")
        }
        if payload == .streamingSignedTrailer {
            signedTrailerBytes.append(contentsOf: line)
            signedTrailerBytes.append(Self.lineFeed)
        }
        trailers.append(AWSChunkedTrailer(name: name, value: value))
    }

    private mutating func verifyTrailerSignature(_ claimed: String) throws(AWSChunkedError) {
        guard let signer, Hex.isLowercase(claimed, count: 64) else { throw .trailerSignatureMismatch }
        let computed = signer.trailerSignature(previousSignature: previousSignature,
                                               trailerSHA256Hex: SigV4Signature.sha256Hex(signedTrailerBytes))
        guard SigV4ChunkSigner.constantTimeEqual(computed, claimed) else { throw .trailerSignatureMismatch }
        previousSignature = computed
        trailerSignatureVerified = true
    }

    /// The trailer is complete: everything announced came, the signature too when one is due, and the
    /// payload has its announced length.
    mutating func endOfTrailer() throws(AWSChunkedError) {
        for name in announcedTrailers where !trailers.contains(where: { $0.name == name }) {
            throw .missingTrailer(name)
        }
        if payload == .streamingSignedTrailer, !trailerSignatureVerified { throw .trailerSignatureMismatch }
        if let expected = decodedContentLength, decodedByteCount != expected {
            throw .decodedLengthShort(expected: expected, received: decodedByteCount)
        }
        state = .done
    }
}
