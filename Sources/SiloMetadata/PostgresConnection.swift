import CLibPQ

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Confined to the `DatabaseThread` of its pool slot: every method blocks.
///
/// Parameters and results travel in PostgreSQL's text format: every value Silo stores (keys, ids, sizes,
/// CRCs, timestamps) is short, so parsing costs less than a round trip and binary formats would only add
/// per-type encoders.
package final class PostgresConnection {
    private let handle: OpaquePointer
    private var preparedNames: Set<String> = []

    init(parameters: [(keyword: String, value: String)]) throws(DatabaseError) {
        // expand_dbname = 1: the first "dbname" may be a whole conninfo string or postgresql:// URI;
        // later keywords override what it says.
        let keywords = parameters.map { strdup($0.keyword) } + [nil]
        let values = parameters.map { strdup($0.value) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let connection: OpaquePointer? = keywords.withUnsafeBufferPointer { keywordBuffer in
            values.withUnsafeBufferPointer { valueBuffer in
                keywordBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keywordPointers in
                    valueBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { valuePointers in
                        PQconnectdbParams(keywordPointers.baseAddress, valuePointers.baseAddress, 1)
                    }
                }
            }
        }
        guard let connection else { throw .unavailable(message: "libpq could not allocate a connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw .unavailable(message: message)
        }
        // libpq prints NOTICEs (DROP ... CASCADE, IF NOT EXISTS) to stderr by default; they are not errors.
        PQsetNoticeReceiver(connection, { _, _ in }, nil)
        handle = connection
    }

    deinit { PQfinish(handle) }

    /// The server closed or lost the session.
    var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// Runs `statement` (prepared on this connection the first time) with `parameters`.
    @discardableResult
    package func execute(_ statement: Statement, _ parameters: [SQLValue] = []) throws(DatabaseError) -> QueryResult {
        try prepare(statement)
        let result = Self.withCStrings(parameters) { pointers in
            PQexecPrepared(handle, statement.name, Int32(pointers.count), pointers.baseAddress, nil, nil, 0)
        }
        return try check(result)
    }

    /// Runs SQL without parameters through the simple query protocol (several statements allowed).
    @discardableResult
    package func execute(sql: String) throws(DatabaseError) -> QueryResult {
        try check(PQexec(handle, sql))
    }

    /// Runs `statement` once per parameter set in libpq's pipeline mode: all of them are sent before any
    /// result is read, so N inserts cost one round trip instead of N. Returns the rows affected in total.
    /// Inside a transaction the pipeline's sync does not commit; the first failure aborts the rest.
    @discardableResult
    package func pipeline(_ statement: Statement, _ parameterSets: [[SQLValue]]) throws(DatabaseError) -> Int {
        guard !parameterSets.isEmpty else { return 0 }
        try prepare(statement)
        guard PQenterPipelineMode(handle) == 1 else { throw failure("cannot enter pipeline mode") }
        defer { PQexitPipelineMode(handle) }
        for parameters in parameterSets {
            let sent = Self.withCStrings(parameters) { pointers in
                PQsendQueryPrepared(handle, statement.name, Int32(pointers.count), pointers.baseAddress, nil, nil, 0)
            }
            guard sent == 1 else { throw failure("sending a pipelined statement failed") }
        }
        guard PQpipelineSync(handle) == 1 else { throw failure("pipeline sync failed") }

        var firstError: DatabaseError?
        var affected = 0
        // Each statement's results end with a NULL; the sync's result ends the pipeline. The count of NULLs
        // bounds the loop should the connection break half-way.
        var nullsSeen = 0
        while true {
            guard let result = PQgetResult(handle) else {
                nullsSeen += 1
                if isBroken || nullsSeen > parameterSets.count + 1 {
                    throw failure("connection lost in a pipeline")
                }
                continue
            }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                PQclear(result)
                break
            }
            if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
                affected += Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if firstError == nil, status != PGRES_PIPELINE_ABORTED {
                firstError = error(from: result)
            }
            PQclear(result)
        }
        if let firstError { throw firstError }
        return affected
    }

    private func prepare(_ statement: Statement) throws(DatabaseError) {
        guard !preparedNames.contains(statement.name) else { return }
        _ = try check(PQprepare(handle, statement.name, statement.sql, 0, nil))
        preparedNames.insert(statement.name)
    }

    private func check(_ result: OpaquePointer?) throws(DatabaseError) -> QueryResult {
        guard let result else { throw failure("no result") }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return QueryResult(result)
        default:
            let error = error(from: result)
            PQclear(result)
            throw error
        }
    }

    private func error(from result: OpaquePointer) -> DatabaseError {
        let message = Self.trimmed(PQresultErrorMessage(result))
        let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        if isBroken { return .unavailable(message: message.isEmpty ? Self.trimmed(PQerrorMessage(handle)) : message) }
        guard let sqlState else { return .unavailable(message: message) }
        return .server(sqlState: sqlState, message: message)
    }

    private func failure(_ what: String) -> DatabaseError {
        .unavailable(message: "\(what): \(Self.trimmed(PQerrorMessage(handle)))")
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        var text = String(cString: message)
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }

    /// Lends `values` as C strings for the duration of `body`.
    private static func withCStrings<T>(
        _ values: [SQLValue], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> T
    ) -> T {
        let copies: [UnsafeMutablePointer<CChar>?] = values.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        return copies.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { body($0) }
        }
    }
}
