/// Why a request body is not acceptable XML. Every case is the client's `MalformedXML` (400).
package enum XMLBodyError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// The body, its nesting or its element count is over the parser's limits.
    case tooLarge(String)

    package var description: String {
        switch self {
        case .malformed(let reason), .tooLarge(let reason): return reason
        }
    }

    package var s3Error: S3Error {
        S3Error(.malformedXML, message: S3ErrorCode.malformedXML.defaultMessage + ": " + description)
    }
}
