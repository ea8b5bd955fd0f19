/// The parts of an HTTP request that SigV4 signs, as they came off the wire: no HTTP framework types,
/// so the verifier can be tested with plain values and fed by any server.
package struct SignedRequest: Sendable {
    /// The request method, uppercase (`GET`, `PUT`, …).
    package var method: String
    /// The path as sent, still percent-encoded, without the query (`/bucket/my%20key`).
    package var rawPath: String
    /// The query as sent, without the `?`; empty when there is none.
    package var rawQuery: String
    /// Every header line in arrival order; names in any case, repeated names kept.
    package var headers: [(name: String, value: String)]

    package init(method: String, rawPath: String, rawQuery: String = "", headers: [(name: String, value: String)]) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
    }

    /// Every value of the header `name` (matched case-insensitively), in arrival order.
    package func headerValues(_ name: String) -> [String] {
        let lowered = name.lowercased()
        return headers.filter { $0.name.lowercased() == lowered }.map(\.value)
    }

    /// The first value of the header `name`, or nil.
    package func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// The query parameters, percent-decoded, in order; a parameter without `=` has an empty value.
    /// Nil when an escape is malformed or a name or value is not UTF-8.
    package func queryParameters() -> [(name: String, value: String)]? {
        var parameters: [(name: String, value: String)] = []
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let nameBytes = PercentEncoding.decode(parts[0]),
                  let valueBytes = PercentEncoding.decode(parts.count > 1 ? parts[1] : ""),
                  let name = String(validating: nameBytes, as: UTF8.self),
                  let value = String(validating: valueBytes, as: UTF8.self) else { return nil }
            parameters.append((name, value))
        }
        return parameters
    }
}
