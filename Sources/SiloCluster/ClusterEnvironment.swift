import Foundation

/// `cluster.env`: what a client needs to reach a running cluster, as `KEY=value` lines in a fixed order.
///
/// The file is what `silo cluster up` prints, and is meant for `set -a; . DIR/cluster.env; set +a`, for
/// `env $(cat DIR/cluster.env)` and for line-by-line parsers that split at the first `=`. Values are chosen
/// so none needs quoting (the database URL is a URI with the socket directory percent-encoded, not a
/// conninfo with spaces); only a value holding a character a shell would act on (a cluster directory with a
/// space in its path) is written in single quotes, which `parse` removes again.
package struct ClusterEnvironment: Sendable, Equatable {
    package static let endpoint = "SILO_ENDPOINT"
    package static let apiBaseURL = "API_BASE_URL"
    package static let accessKey = "SILO_ACCESS_KEY"
    package static let secretKey = "SILO_SECRET_KEY"
    package static let storageNodes = "STORAGE_NODES"
    package static let databaseURL = "SILO_DATABASE_URL"
    package static let clusterDirectory = "SILO_CLUSTER_DIR"
    package static let replicas = "SILO_REPLICAS"
    /// The gateway's chunk size and object limit in bytes, for clients that size their work by them.
    package static let chunkBytes = "SILO_CHUNK_BYTES"
    package static let maxObjectBytes = "SILO_MAX_OBJECT_BYTES"

    package private(set) var entries: [(key: String, value: String)]

    package init(_ entries: [(key: String, value: String)] = []) {
        self.entries = entries
    }

    package subscript(key: String) -> String? {
        entries.last { $0.key == key }?.value
    }

    package mutating func set(_ key: String, _ value: String) {
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = value
        } else {
            entries.append((key, value))
        }
    }

    /// The lines of the file, each `KEY=value`, without a trailing newline.
    package var lines: [String] {
        entries.map { "\($0.key)=\(Self.shellWord($0.value))" }
    }

    package var text: String { lines.map { $0 + "\n" }.joined() }

    /// Reads lines written by `text` (blank lines and `#` comments are skipped).
    package static func parse(_ text: String) -> ClusterEnvironment {
        var environment = ClusterEnvironment()
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else {
                continue
            }
            let key = String(trimmed[..<equals])
            environment.set(key, unquoted(String(trimmed[trimmed.index(after: equals)...])))
        }
        return environment
    }

    package static func read(_ path: String) -> ClusterEnvironment? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return parse(text)
    }

    package static func == (a: ClusterEnvironment, b: ClusterEnvironment) -> Bool {
        a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value)
    }

    /// Bytes a POSIX shell takes literally in a word (no globbing, expansion, splitting or quoting).
    private static func isShellSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("_@%+=:,./-".utf8).contains(byte)
        }
    }

    static func shellWord(_ value: String) -> String {
        if !value.isEmpty, value.utf8.allSatisfy(isShellSafe) { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func unquoted(_ word: String) -> String {
        guard word.count >= 2, word.hasPrefix("'"), word.hasSuffix("'") else { return word }
        return String(word.dropFirst().dropLast()).replacingOccurrences(of: "'\\''", with: "'")
    }
}

/// `host:port`, with an IPv6 host in brackets.
func hostPort(_ host: String, _ port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}
