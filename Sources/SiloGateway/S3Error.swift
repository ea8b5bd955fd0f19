/// An error meant for the S3 client: a code (which fixes the HTTP status), a message, and the resource it
/// concerns. Domain errors are mapped to this at the edge only (STYLE.md rule 5).
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: S3ErrorCode
    public var message: String
    /// The bucket or object the request named, as `/bucket/key`; empty when there is none.
    public var resource: String

    public init(_ code: S3ErrorCode, message: String? = nil, resource: String = "") {
        self.code = code
        self.message = message ?? code.defaultMessage
        self.resource = resource
    }

    public var httpStatus: Int { code.httpStatus }

    public var description: String { "\(code.rawValue) (\(code.httpStatus)): \(message)" }

    /// The XML error body S3 sends:
    /// `<Error><Code/><Message/><Resource/><RequestId/></Error>`.
    public func xml(requestID: String) -> String {
        var writer = XMLWriter()
        writer.element("Error") { writer in
            writer.element("Code", code.rawValue)
            writer.element("Message", message)
            if !resource.isEmpty { writer.element("Resource", resource) }
            writer.element("RequestId", requestID)
        }
        return writer.output
    }
}
