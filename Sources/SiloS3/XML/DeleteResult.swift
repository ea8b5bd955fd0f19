/// The body of DeleteObjects: the keys deleted (left out in quiet mode) and the keys that failed.
public struct DeleteResult: Sendable {
    public struct Failure: Sendable, Equatable {
        public var key: String
        public var code: S3ErrorCode
        public var message: String
        public init(key: String, code: S3ErrorCode, message: String? = nil) {
            self.key = key
            self.code = code
            self.message = message ?? code.defaultMessage
        }
    }

    public var deleted: [String]
    public var failures: [Failure]
    /// `<Quiet>true</Quiet>` in the request: only failures are reported.
    public var quiet: Bool

    public init(deleted: [String], failures: [Failure] = [], quiet: Bool = false) {
        self.deleted = deleted
        self.failures = failures
        self.quiet = quiet
    }

    public func xml() -> String {
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
