/// A prepared statement: `name` is unique within the process; each connection prepares it on first use.
public struct Statement: Sendable, Hashable {
    public let name: String
    public let sql: String

    public init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// A statement parameter in PostgreSQL's text format; nil is SQL NULL.
public typealias SQLValue = String?

extension Int64 { var sql: SQLValue { String(self) } }
extension Int { var sql: SQLValue { String(self) } }
extension UInt32 { var sql: SQLValue { String(self) } }

extension Array where Element == String {
    /// A `text[]` literal: every element quoted, so commas, braces and quotes inside survive.
    var sqlArray: SQLValue {
        "{" + map { element in
            "\"" + element.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
        }.joined(separator: ",") + "}"
    }
}
