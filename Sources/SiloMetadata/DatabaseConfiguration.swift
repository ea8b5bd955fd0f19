/// Where the metadata lives and how many connections Silo may hold to it.
package struct DatabaseConfiguration: Sendable {
    /// A libpq conninfo string (`host=/run/silo port=5432 user=postgres`) or URI
    /// (`postgresql://user@host/db`), as `SILO_DATABASE_URL` and `--database-url` give it.
    package var connectionString: String
    /// Overrides the database the connection string names.
    package var database: String?
    /// Tables live in this schema (created by the migrations when missing); nil is PostgreSQL's default.
    package var schema: String?
    /// Shown in `pg_stat_activity`, which is how the pool's limit is observed from the server.
    package var applicationName: String
    package var limits: MetadataLimits

    package init(connectionString: String, database: String? = nil, schema: String? = nil,
                applicationName: String = "silo", limits: MetadataLimits = MetadataLimits()) {
        self.connectionString = connectionString
        self.database = database
        self.schema = schema
        self.applicationName = applicationName
        self.limits = limits
    }

    /// The environment variable that names an existing server instead of a private one.
    package static let urlEnvironmentVariable = "SILO_DATABASE_URL"

    var connectionParameters: [(keyword: String, value: String)] {
        var parameters: [(keyword: String, value: String)] = [("dbname", connectionString)]
        if let database { parameters.append(("dbname", database)) }
        parameters.append(("application_name", applicationName))
        parameters.append(("connect_timeout", String(limits.connectTimeoutSeconds)))
        if let schema {
            precondition(MetadataLimits.isPlainIdentifier(schema), "schema name must be [a-z0-9_]")
            parameters.append(("options", "-c search_path=\(schema)"))
        }
        return parameters
    }
}

/// Every bound of the metadata layer, named, with its unit last.
package struct MetadataLimits: Sendable, Equatable {
    /// Connections (and threads running them) in the pool. The reference system ran 20–50.
    package var poolConnections: Int = 32
    /// How long a caller waits for a free connection before `DatabaseError.poolExhausted`.
    package var acquireTimeout: Duration = .seconds(5)
    /// Attempts of one transaction when it loses a serialization race or its connection.
    package var transactionAttemptsMax: Int = 4
    /// Pause before the second attempt; doubled for each one after.
    package var retryBackoff: Duration = .milliseconds(20)
    /// libpq's connect_timeout.
    package var connectTimeoutSeconds: Int = 5
    /// Statements sent in one pipeline before its sync (bounds the bytes both sockets must buffer).
    package var pipelineStatementsMax: Int = 256
    /// The most keys one listing page returns (S3's max-keys ceiling).
    package var listKeysMax: Int = 1000
    /// The most rows one GC or janitor claim hands out.
    package var claimRowsMax: Int = 1000
    /// The most chunks one object version may have (10 GiB in 16 MiB chunks is 640).
    package var chunksPerObjectMax: Int = 100_000

    package init() {}

    package func validate() throws(MetadataLimitsError) {
        func require(_ condition: Bool, _ reason: String) throws(MetadataLimitsError) {
            if !condition { throw MetadataLimitsError(reason: reason) }
        }
        try require(poolConnections >= 1 && poolConnections <= 1000, "poolConnections must be in 1...1000")
        try require(acquireTimeout > .zero, "acquireTimeout must be positive")
        try require(transactionAttemptsMax >= 1 && transactionAttemptsMax <= 100,
                    "transactionAttemptsMax must be in 1...100")
        try require(connectTimeoutSeconds >= 1, "connectTimeoutSeconds must be at least 1")
        try require(pipelineStatementsMax >= 1 && pipelineStatementsMax <= 10_000,
                    "pipelineStatementsMax must be in 1...10000")
        try require(listKeysMax >= 1 && listKeysMax <= 1000, "listKeysMax must be in 1...1000")
        try require(claimRowsMax >= 1, "claimRowsMax must be at least 1")
        try require(chunksPerObjectMax >= 1, "chunksPerObjectMax must be at least 1")
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63 && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }
}

package struct MetadataLimitsError: Error, Sendable, CustomStringConvertible {
    package let reason: String
    package var description: String { "invalid metadata limits: \(reason)" }
}
