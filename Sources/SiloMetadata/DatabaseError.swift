/// An operating error of the metadata database. `isRetryable` tells the gateway to answer 503
/// `ServiceUnavailable` (and the client to retry) rather than 500.
package enum DatabaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server cannot be reached or the connection dropped; the pool reconnects on the next use.
    case unavailable(message: String)
    /// Every connection of the pool stayed busy past the acquire deadline.
    case poolExhausted(connections: Int, waitedMilliseconds: Int)
    /// The server refused a statement; `sqlState` is the five-character SQLSTATE code.
    case server(sqlState: String, message: String)
    /// The pool was shut down.
    case poolClosed
    /// A result did not have the shape the query promises (a programmer error in SiloMetadata, or a
    /// schema changed underneath).
    case unexpectedResult(String)

    package var sqlState: String? {
        if case .server(let state, _) = self { return state }
        return nil
    }

    /// Worth retrying the same request later: the database is away, busy, or lost a race it reported.
    package var isRetryable: Bool {
        switch self {
        case .unavailable, .poolExhausted: return true
        case .server(let state, _): return SQLState.isRetryable(state)
        case .poolClosed, .unexpectedResult: return false
        }
    }

    /// The connection this error came from must not be reused.
    var losesConnection: Bool {
        switch self {
        case .unavailable: return true
        case .server(let state, _): return SQLState.isConnectionClass(state)
        default: return false
        }
    }

    package var description: String {
        switch self {
        case .unavailable(let message): return "database unavailable: \(message)"
        case .poolExhausted(let connections, let waited):
            return "all \(connections) database connections stayed busy for \(waited) ms"
        case .server(let state, let message): return "database error \(state): \(message)"
        case .poolClosed: return "database pool is closed"
        case .unexpectedResult(let what): return "unexpected database result: \(what)"
        }
    }
}

/// The SQLSTATE codes Silo acts on (PostgreSQL manual, appendix A).
package enum SQLState {
    package static let uniqueViolation = "23505"
    package static let foreignKeyViolation = "23503"
    package static let checkViolation = "23514"
    package static let serializationFailure = "40001"
    package static let deadlockDetected = "40P01"
    package static let adminShutdown = "57P01"
    package static let crashShutdown = "57P02"
    package static let cannotConnectNow = "57P03"
    package static let tooManyConnections = "53300"

    /// Class 08 (connection exception) and the shutdown codes: the session is gone.
    static func isConnectionClass(_ state: String) -> Bool {
        state.hasPrefix("08") || state == adminShutdown || state == crashShutdown || state == cannotConnectNow
    }

    static func isRetryable(_ state: String) -> Bool {
        isConnectionClass(state) || state == serializationFailure || state == deadlockDetected
            || state == tooManyConnections
    }
}
