import Foundation
import SiloCore

#if canImport(Glibc)
import Glibc
#endif

/// What the figures were measured on. A report is only comparable with another from the same machine.
package struct Machine: Sendable, Codable {
    package var cpuCount: Int
    package var cpuModel: String
    package var memoryBytes: UInt64
    package var kernel: String
    package var hostname: String
    /// The backend the node reported in HealthCheck ("io_uring" or "threadpool"); nil when no node ran.
    package var ioBackend: String?
    /// Whether the node's io_uring buffers are registered; nil when no node ran.
    package var registeredBuffers: Bool?
    package var crc32cHardware: Bool

    enum CodingKeys: String, CodingKey {
        case cpuCount = "cpu_count", cpuModel = "cpu_model", memoryBytes = "memory_bytes", kernel, hostname
        case ioBackend = "io_backend", registeredBuffers = "registered_buffers", crc32cHardware = "crc32c_hardware"
    }

    // Written by hand so that absent facts appear as null rather than vanish: readers see a stable shape.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cpuCount, forKey: .cpuCount)
        try container.encode(cpuModel, forKey: .cpuModel)
        try container.encode(memoryBytes, forKey: .memoryBytes)
        try container.encode(kernel, forKey: .kernel)
        try container.encode(hostname, forKey: .hostname)
        try container.encode(ioBackend, forKey: .ioBackend)
        try container.encode(registeredBuffers, forKey: .registeredBuffers)
        try container.encode(crc32cHardware, forKey: .crc32cHardware)
    }

    /// This machine, without the node facts (a workload adds them).
    static func current() -> Machine {
        Machine(
            cpuCount: ProcessInfo.processInfo.activeProcessorCount,
            cpuModel: cpuModelName() ?? "unknown",
            memoryBytes: ProcessInfo.processInfo.physicalMemory,
            kernel: kernelRelease(),
            hostname: ProcessInfo.processInfo.hostName,
            ioBackend: nil,
            registeredBuffers: nil,
            crc32cHardware: CRC32C.isHardwareAccelerated)
    }

    private static func cpuModelName() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    private static func kernelRelease() -> String {
        var name = utsname()
        guard uname(&name) == 0 else { return "unknown" }
        return withUnsafeBytes(of: name.release) { raw in
            String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
    }
}

/// The code that was measured.
package enum BuildInfo {
    package static var configuration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    package static var isDebug: Bool { configuration == "debug" }

    /// HEAD's commit, with "-dirty" when tracked or untracked files differ from it (untracked sources are
    /// compiled too); `results/` is left out, or every run would dirty the next. "unknown" outside git.
    static func gitRevision(packageRoot: String?) -> String {
        guard let packageRoot,
              let head = Subprocess.capture(["git", "-C", packageRoot, "rev-parse", "HEAD"]), head.status == 0
        else { return "unknown" }
        let commit = head.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let status = Subprocess.capture(
            ["git", "-C", packageRoot, "status", "--porcelain", "--", ".", ":(exclude)results"]),
            status.status == 0
        else { return commit }
        return status.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? commit : commit + "-dirty"
    }
}
