import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL server in a directory of its own: `initdb` into `<directory>/data`, the unix socket
/// in `<directory>`, no TCP unless `Options.tcpPort` asks for it. The embedded default behind
/// `silo cluster`, `bench` and the tests.
///
/// PostgreSQL refuses to run as root; as root the directory is given to the `postgres` user and `initdb`
/// and `pg_ctl` run through `runuser -u postgres --`. Clients connect over the socket as the `postgres`
/// superuser with trust authentication: the socket directory is the only way in.
package final class PostgresInstance: Sendable {
    package struct Options: Sendable {
        /// Where initdb and pg_ctl are; nil looks under /usr/lib/postgresql/<newest>/bin, then PATH.
        package var binDirectory: String?
        /// Also listen on 127.0.0.1:<port>. The socket is named after the port either way.
        package var tcpPort: Int?
        package var maxConnections: Int = 200
        /// fsync and synchronous commit on. Off is for throwaway instances (tests): a crash of the machine
        /// may then lose committed transactions, a crash of PostgreSQL alone does not.
        package var durable: Bool = true
        package var superuser: String = "postgres"

        package init() {}
    }

    package let directory: String
    package let options: Options
    private let binDirectory: String

    package var dataDirectory: String { directory + "/data" }
    package var logFile: String { directory + "/postgresql.log" }
    package var port: Int { options.tcpPort ?? 5432 }
    package var socketPath: String { directory + "/.s.PGSQL.\(port)" }

    /// Creates the cluster in `directory` (which must not hold one yet) and starts it.
    package static func start(in directory: String, options: Options = Options()) throws -> PostgresInstance {
        let instance = try PostgresInstance(directory: directory, options: options)
        try instance.initialize()
        try instance.start()
        return instance
    }

    /// The cluster an earlier `start(in:)` created in `directory`, running or not (nil when there is none):
    /// what `silo cluster` uses to start it again, stop it or ask for its pid. `options` must name the same
    /// port; its durability applies from the next `start()`.
    package static func existing(in directory: String, options: Options = Options()) throws -> PostgresInstance? {
        let instance = try PostgresInstance(directory: directory, options: options)
        return FileManager.default.fileExists(atPath: instance.dataDirectory + "/PG_VERSION") ? instance : nil
    }

    private init(directory: String, options: Options) throws {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.directory = absolute
        self.options = options
        binDirectory = try options.binDirectory ?? Self.findBinDirectory()
        // sun_path holds 108 bytes with its terminating NUL.
        guard absolute.utf8.count + "/.s.PGSQL.\(options.tcpPort ?? 5432)".utf8.count < 108 else {
            throw PostgresInstanceError("\(absolute) is too long for a unix socket path; choose a shorter directory")
        }
    }

    /// libpq conninfo for `database` as the superuser over the socket.
    package func connectionString(database: String = "postgres") -> String {
        "host=\(Self.quoted(directory)) port=\(port) user=\(Self.quoted(options.superuser)) dbname=\(Self.quoted(database))"
    }

    /// The same as a `postgresql://` URI, with the socket directory percent-encoded as the host: one word
    /// with no space or quote, so it goes into an environment file or a shell variable as it is.
    package func connectionURI(database: String = "postgres") -> String {
        Self.connectionURI(directory: directory, options: options, database: database)
    }

    /// `connectionURI` of the instance `directory` holds (or would hold) with `options`, without opening it.
    package static func connectionURI(directory: String, options: Options, database: String) -> String {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        return "postgresql://\(percentEncoded(options.superuser))@\(percentEncoded(absolute)):"
            + "\(options.tcpPort ?? 5432)/\(percentEncoded(database))"
    }

    /// The postmaster's pid while it runs (first line of postmaster.pid).
    package var pid: pid_t? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = pid_t(first) else { return nil }
        return kill(pid, 0) == 0 ? pid : nil
    }

    package var isRunning: Bool { pid != nil }

    private func initialize() throws {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            throw PostgresInstanceError("\(dataDirectory) already holds a PostgreSQL cluster")
        }
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try giveToServerUser(directory)
        try runServerTool("initdb", ["-D", dataDirectory, "-U", options.superuser, "--auth=trust", "-E", "UTF8",
                                     "--locale=C", "--no-sync", "--no-instructions"])
        let durability = options.durable ? "" : "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        let settings = """

            # Silo: private instance
            listen_addresses = '\(options.tcpPort == nil ? "" : "127.0.0.1")'
            port = \(port)
            unix_socket_directories = '\(directory.replacingOccurrences(of: "'", with: "''"))'
            max_connections = \(options.maxConnections)
            \(durability)
            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/postgresql.conf"))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    /// Starts the server (again, after `stop`) and waits until it accepts connections.
    package func start() throws {
        guard !isRunning else { return }
        // Durability on the command line as well as in postgresql.conf: the command line wins, so an
        // existing cluster started again follows the options it is started with now.
        let durability = options.durable ? "on" : "off"
        let settings = ["fsync", "synchronous_commit", "full_page_writes"].map { "-c \($0)=\(durability)" }
        try runServerTool("pg_ctl", ["start", "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-s",
                                     "-o", settings.joined(separator: " ")])
    }

    /// Stops the server by its pid (pg_ctl's fast mode: sessions are ended, nothing committed is lost) and
    /// waits until the process is gone; with `removingDirectory`, deletes everything it kept.
    package func stop(removingDirectory: Bool = false) throws {
        if let pid {
            do {
                try runServerTool("pg_ctl", ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "-s"])
            } catch {
                kill(pid, SIGQUIT)  // immediate shutdown: what is left of a fast stop that hung
            }
            for _ in 0..<300 where kill(pid, 0) == 0 { usleep(10_000) }
            if kill(pid, 0) == 0 {
                kill(pid, SIGKILL)
            }
        }
        if removingDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    // MARK: - Running the server's tools

    private var runsAsRoot: Bool { geteuid() == 0 }

    private func giveToServerUser(_ path: String) throws {
        guard runsAsRoot else { return }
        guard let user = getpwnam("postgres") else {
            throw PostgresInstanceError("running as root and there is no 'postgres' user to run PostgreSQL as")
        }
        guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
            throw PostgresInstanceError("chown \(path) to postgres: \(String(cString: strerror(errno)))")
        }
    }

    private func runServerTool(_ tool: String, _ arguments: [String]) throws {
        let executable = binDirectory + "/" + tool
        let command = runsAsRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments
            : [executable] + arguments
        // ChildProcess, not Foundation's Process: the server that `pg_ctl start` leaves running would
        // inherit whatever Process uses to notice the exit and keep it from ever seeing one. Output goes to
        // a file for the same reason.
        let outputPath = directory + "/\(tool).out"
        let status: Int32
        do {
            status = try ChildProcess.run(command, .init(output: .file(outputPath, append: false), directory: directory))
        } catch {
            throw PostgresInstanceError("\(error)")
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8))?.suffix(2000) ?? ""
            throw PostgresInstanceError("\(tool) \(arguments.first ?? "") exited with \(status): "
                                        + "\(text)\(log.isEmpty ? "" : "\nserver log:\n\(log)")")
        }
    }

    private static func findBinDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let candidate = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: candidate + "/initdb") { return candidate }
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(directory)/initdb") { return String(directory) }
        }
        throw PostgresInstanceError("no initdb found under \(root)/*/bin or on PATH; install postgresql")
    }

    /// Every byte outside RFC 3986's unreserved set as %XX: what a libpq URI needs in its host (a socket
    /// directory) and elsewhere.
    static func percentEncoded(_ value: String) -> String {
        var output = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                output += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return output
    }

    /// A conninfo value in single quotes, with `\` and `'` escaped as libpq expects.
    static func quoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}

package struct PostgresInstanceError: Error, Sendable, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
