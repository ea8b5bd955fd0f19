/// The body of DeleteObjects: the keys deleted (left out in quiet mode) and the keys that failed.
package struct DeleteResult: Sendable {
    package struct Failure: Sendable, Equatable {
        package var key: String
        package var code: S3ErrorCode
        package var message: String
        package init(key: String, code: S3ErrorCode, message: String? = nil) {
            self.key = key
            self.code = code
            self.message = message ?? code.defaultMessage
        }
    }

    package var deleted: [String]
    package var failures: [Failure]
    /// `<Quiet>true</Quiet>` in the request: only failures are reported.
    package var quiet: Bool

    package init(deleted: [String], failures: [Failure] = [], quiet: Bool = false) {
        self.deleted = deleted
        self.failures = failures
        self.quiet = quiet
    }

    package func xml() -> String {
        var writer = XMLWriter()
        writer.element("DeleteResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            if !quiet {
                for key in deleted {
                    writer.element("Deleted") { writer in writer.element("Key", key) }
                }
            }
            for failure in failures {
                writer.element("Error") { writer in
                    writer.element("Key", failure.key)
                    writer.element("Code", failure.code.rawValue)
                    writer.element("Message", failure.message)
                }
            }
        }
        return writer.output
    }
}
