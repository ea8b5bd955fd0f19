import Foundation

/// Small wrappers around `Process` for the few commands the bench runs itself (git, swift build).
enum Subprocess {
    /// Runs `arguments` (looked up on PATH) and returns its exit status and standard output; standard error
    /// is discarded. Nil when the program cannot be started at all.
    static func capture(_ arguments: [String], in directory: String? = nil) -> (status: Int32, output: String)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        // Read to the end before waiting, so a chatty command cannot fill the pipe and stall.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs `arguments` with its standard output sent to our standard error (the report owns standard
    /// output) and returns its exit status.
    static func runShowingOutput(_ arguments: [String], in directory: String? = nil) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
