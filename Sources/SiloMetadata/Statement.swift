/// A prepared statement: `name` is unique within the process; each connection prepares it on first use.
package struct Statement: Sendable, Hashable {
    package let name: String
    package let sql: String

    package init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// A statement parameter in PostgreSQL's text format; nil is SQL NULL.
package typealias SQLValue = String?

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
