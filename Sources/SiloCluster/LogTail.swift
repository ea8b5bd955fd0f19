import Foundation

/// The end of a log file, for the message of a process that did not start or did not stop.
package enum LogTail {
    /// Only the end of the file is read: logs are appended across runs and may be large.
    static let windowBytes: UInt64 = 64 << 10

    /// The last `count` lines of the file at `path`; nil when it cannot be read or holds only blank lines.
    package static func lines(of path: String, count: Int) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > windowBytes ? size - windowBytes : 0)
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        // One more than asked for: the last "line" after a final newline is empty.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count + 1)
        let joined = lines.joined(separator: "\n").trimmingCharacters(in: .newlines)
        return joined.isEmpty ? nil : joined
    }

    /// The last `count` lines, or a note in parentheses saying there are none: what an error message shows.
    package static func text(of path: String, lines count: Int = 30) -> String {
        if let tail = lines(of: path, count: count) { return tail }
        return FileManager.default.isReadableFile(atPath: path) ? "(\(path) is empty)" : "(no log at \(path))"
    }
}
