import Foundation
import SiloCluster

#if canImport(Glibc)
import Glibc
#endif

/// The few commands the bench runs itself (git, swift build), looked up on PATH through /usr/bin/env and
/// started with SiloCluster's `ChildProcess` (posix_spawn and waitpid, not Foundation's `Process`). Both
/// block until the command ends.
enum Subprocess {
    /// Runs `arguments` and returns its exit status and standard output; standard error is discarded. Nil
    /// when the program cannot be started at all.
    static func capture(_ arguments: [String]) -> (status: Int32, output: String)? {
        // Into a file rather than a pipe: nothing has to read while the command runs, so a chatty command
        // cannot stall on a full pipe.
        var template = Array((NSTemporaryDirectory() + "/bench-output-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { return nil }
        close(descriptor)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let options = ChildProcess.Options(output: .file(path, append: false), error: .nullDevice)
        guard let status = try? ChildProcess.run(["/usr/bin/env"] + arguments, options) else { return nil }
        let output = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return (status, output)
    }

    /// Runs `arguments` with its standard output sent to our standard error (the report owns standard
    /// output) and returns its exit status.
    static func runShowingOutput(_ arguments: [String]) throws -> Int32 {
        try ChildProcess.run(["/usr/bin/env"] + arguments, .init(output: .parentStandardError))
    }
}
