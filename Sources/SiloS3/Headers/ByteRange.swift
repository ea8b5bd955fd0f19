import SiloCore

/// A resolved byte range of an object: `length` bytes from `offset`, never empty, inside the object.
package struct ByteRange: Sendable, Equatable {
    package var offset: ByteCount
    package var length: ByteCount

    package init(offset: ByteCount, length: ByteCount) {
        self.offset = offset
        self.length = length
    }

    /// The last byte's offset, as `Content-Range` writes it.
    package var last: ByteCount { offset + length - ByteCount(1) }

    /// `bytes 0-9/443`, the `Content-Range` of a 206.
    package func contentRange(objectSize: ByteCount) -> String {
        "bytes \(offset.bytes)-\(last.bytes)/\(objectSize.bytes)"
    }
}

/// A `Range` header as the client wrote it, before it meets the object's size.
package enum ByteRangeRequest: Sendable, Equatable {
    /// `bytes=first-` or `bytes=first-last`.
    case from(first: Int64, last: Int64?)
    /// `bytes=-length`: the last `length` bytes.
    case suffix(length: Int64)

    /// Reads a `Range` header. Nil means "serve the whole object", which is what S3 does with a header it
    /// does not understand, with another unit, and with several ranges (S3 does not send multipart/byteranges).
    package init?(header: String) {
        let trimmed = header.trimmingSpaces()
        guard trimmed.hasPrefix("bytes=") else { return nil }
        let spec = trimmed.dropFirst(6).trimmingSpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let firstText = spec[..<dash].trimmingSpaces()
        let lastText = spec[spec.index(after: dash)...].trimmingSpaces()
        if firstText.isEmpty {
            guard let length = Self.number(lastText) else { return nil }
            self = .suffix(length: length)
        } else {
            guard let first = Self.number(firstText) else { return nil }
            if lastText.isEmpty {
                self = .from(first: first, last: nil)
            } else {
                // A last before the first is syntactically invalid (RFC 9110 §14.1.1): ignored, not 416.
                guard let last = Self.number(lastText), last >= first else { return nil }
                self = .from(first: first, last: last)
            }
        }
    }

    /// Digits only (no sign, no spaces), and within Int64.
    private static func number(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int64(text)
    }

    /// The bytes this asks for in an object of `objectSize`: a `last` past the end is cut to the end, a
    /// suffix longer than the object is the whole object. `InvalidRange` (416) when no byte is selected:
    /// a first byte at or past the end, a zero-length suffix, any range of an empty object.
    package func resolve(objectSize: ByteCount) throws(S3Error) -> ByteRange {
        let size = objectSize.bytes
        switch self {
        case .from(let first, let last):
            guard first < size else { throw S3Error(.invalidRange) }
            let end = min(last ?? (size - 1), size - 1)
            return ByteRange(offset: ByteCount(first), length: ByteCount(end - first + 1))
        case .suffix(let length):
            guard length > 0, size > 0 else { throw S3Error(.invalidRange) }
            let taken = min(length, size)
            return ByteRange(offset: ByteCount(size - taken), length: ByteCount(taken))
        }
    }
}
