/// An error meant for the S3 client: a code (which fixes the HTTP status), a message, and the resource it
/// concerns. Domain errors are mapped to this at the edge only (STYLE.md rule 5).
package struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    package var code: S3ErrorCode
    package var message: String
    /// The bucket or object the request named, as `/bucket/key`; empty when there is none.
    package var resource: String

    package init(_ code: S3ErrorCode, message: String? = nil, resource: String = "") {
        self.code = code
        self.message = message ?? code.defaultMessage
        self.resource = resource
    }

    package var httpStatus: Int { code.httpStatus }

    package var description: String { "\(code.rawValue) (\(code.httpStatus)): \(message)" }

    /// The XML error body S3 sends:
    /// `<Error><Code/><Message/><Resource/><RequestId/></Error>`.
    /// Control characters percent-encoded: XML 1.0 has no way to carry them (not even as character
    /// references, which clients' parsers refuse), and an error must always parse. Keys may hold them.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += "%" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    package func xml(requestID: String) -> String {
        var writer = XMLWriter()
        writer.element("Error") { writer in
            writer.element("Code", code.rawValue)
            writer.element("Message", Self.printable(message))
            if !resource.isEmpty { writer.element("Resource", Self.printable(resource)) }
            writer.element("RequestId", requestID)
        }
        return writer.output
    }
}
