import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the package lives: found by walking up from the executable to a directory with a Package.swift,
/// so the bench works from any current directory.
package enum PackageRoot {
    package static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    package static func find() -> String? {
        var directory = URL(fileURLWithPath: executablePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.path
            }
            directory.deleteLastPathComponent()
        }
        return nil
    }
}

/// The documented command always measures release code: a debug bench builds the release configuration
/// of itself and of `silo`, then replaces itself (execv) with the release executable, same arguments.
package enum ReleaseReexec {
    /// Set in the environment of the re-executed bench, so that it can never loop.
    static let environmentKey = "SILO_BENCH_REEXECUTED"

    package static var alreadyReexecuted: Bool { ProcessInfo.processInfo.environment[environmentKey] != nil }

    package static func buildAndExec(packageRoot: String) throws -> Never {
        Progress.line("""

            ================================================================================
            ==  bench was started from a DEBUG build. Building the RELEASE configuration  ==
            ==  (bench and silo) and re-executing from it. --no-reexec stays in debug.    ==
            ================================================================================

            """)
        for product in ["bench", "silo"] {
            let command = ["swift", "build", "-c", "release", "--product", product, "--package-path", packageRoot]
            Progress.line("$ " + command.joined(separator: " "))
            let status = try Subprocess.runShowingOutput(command)
            guard status == 0 else { throw BenchError("the release build of \(product) failed (status \(status))") }
        }
        guard let binPath = Subprocess.capture(
            ["swift", "build", "-c", "release", "--show-bin-path", "--package-path", packageRoot]),
            binPath.status == 0
        else { throw BenchError("swift build --show-bin-path failed") }
        let executable = binPath.output.trimmingCharacters(in: .whitespacesAndNewlines) + "/bench"
        let arguments = [executable] + CommandLine.arguments.dropFirst()
        Progress.line("==  re-executing \(arguments.joined(separator: " "))\n")

        setenv(environmentKey, "1", 1)
        fflush(nil)  // everything buffered goes out before the image is replaced
        var argv = arguments.map { strdup($0) } + [nil]
        execv(executable, &argv)
        throw BenchError("execv \(executable): \(String(cString: strerror(errno)))")
    }
}

/// The `silo` beside the bench executable, rebuilt in the bench's own configuration before anything is
/// measured, so that a bench never times a stale node. A no-op build takes a second or two.
enum NodeBuild {
    static func ensureCurrent(packageRoot: String, nodeBinary: String) throws {
        var command = ["swift", "build", "--product", "silo", "--package-path", packageRoot]
        if !BuildInfo.isDebug { command += ["-c", "release"] }
        // Only when the bench runs from this package's own build directory: a copied bench with a
        // copied silo is measured as it is.
        guard let binPath = Subprocess.capture(command + ["--show-bin-path"]), binPath.status == 0 else { return }
        let binDirectory = URL(fileURLWithPath: binPath.output.trimmingCharacters(in: .whitespacesAndNewlines))
        let nodeDirectory = URL(fileURLWithPath: nodeBinary).deletingLastPathComponent()
        guard nodeDirectory.resolvingSymlinksInPath().path == binDirectory.resolvingSymlinksInPath().path else {
            return
        }
        Progress.line("$ " + command.joined(separator: " "))
        let status = try Subprocess.runShowingOutput(command)
        guard status == 0 else { throw BenchError("building silo failed (status \(status))") }
    }
}

