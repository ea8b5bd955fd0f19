import CLibPQ

/// The rows of one statement, in text format. Read it where it was produced (on the connection's thread)
/// and decode into Sendable values before returning.
package final class QueryResult {
    private let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    package var rowCount: Int { Int(PQntuples(handle)) }

    /// Rows inserted, updated or deleted, as the command tag says.
    package var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    package func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }

    package func string(_ row: Int, _ column: Int) -> String? {
        checkBounds(row, column)
        guard !isNull(row, column) else { return nil }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    package func requiredString(_ row: Int, _ column: Int) throws(DatabaseError) -> String {
        guard let value = string(row, column) else { throw .unexpectedResult("NULL in column \(column)") }
        return value
    }

    package func int64(_ row: Int, _ column: Int) throws(DatabaseError) -> Int64? {
        guard let text = string(row, column) else { return nil }
        guard let value = Int64(text) else { throw .unexpectedResult("'\(text)' is not an integer") }
        return value
    }

    package func requiredInt64(_ row: Int, _ column: Int) throws(DatabaseError) -> Int64 {
        guard let value = try int64(row, column) else { throw .unexpectedResult("NULL in column \(column)") }
        return value
    }

    package func bool(_ row: Int, _ column: Int) -> Bool? { string(row, column).map { $0 == "t" } }

    /// A `text[]` column. Elements are quoted by the server only when they need it.
    package func stringArray(_ row: Int, _ column: Int) throws(DatabaseError) -> [String]? {
        guard let text = string(row, column) else { return nil }
        guard let elements = PostgresArray.parse(text) else {
            throw .unexpectedResult("'\(text)' is not a one-dimensional text array")
        }
        return elements
    }

    private func checkBounds(_ row: Int, _ column: Int) {
        precondition(row >= 0 && row < rowCount && column >= 0 && column < Int(PQnfields(handle)),
                     "row \(row), column \(column) outside a result of \(rowCount) rows, \(PQnfields(handle)) columns")
    }
}

/// The text form of a one-dimensional array: `{a,"b c","d\"e"}`. NULL elements are not used by Silo.
enum PostgresArray {
    static func parse(_ text: String) -> [String]? {
        var characters = Array(text.unicodeScalars)[...]
        guard characters.first == "{", characters.last == "}" else { return nil }
        characters = characters.dropFirst().dropLast()
        var elements: [String] = []
        var current = String.UnicodeScalarView()
        var quoted = false
        var escaped = false
        var sawElement = false
        for scalar in characters {
            if escaped {
                current.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == "\"" {
                quoted.toggle()
                sawElement = true
            } else if scalar == ",", !quoted {
                elements.append(String(current))
                current = String.UnicodeScalarView()
                sawElement = false
            } else {
                current.append(scalar)
                sawElement = true
            }
        }
        if sawElement || !elements.isEmpty { elements.append(String(current)) }
        return elements
    }
}
