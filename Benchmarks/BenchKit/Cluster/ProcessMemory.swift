import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Peak resident memory of the processes the bench starts, from the kernel's own high-water mark
/// (`VmHWM` in /proc/PID/status): exact, with no sampling to miss a short peak.
enum ProcessMemory {
    /// The peak resident set of `pid` since it started or since the last `resetPeak`; nil when the
    /// process is gone or /proc is not readable.
    static func peakResidentBytes(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kibibytes = Int(fields[1]) else { return nil }
            return kibibytes << 10
        }
        return nil
    }

    /// Starts `pid`'s high-water mark over from its current resident set (writing 5 to clear_refs), so
    /// the next peak is that of the next workload alone. False when the kernel refused.
    @discardableResult
    static func resetPeak(_ pid: pid_t) -> Bool {
        let descriptor = open("/proc/\(pid)/clear_refs", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return write(descriptor, "5", 1) == 1
    }
}

/// One process's peak resident memory during one workload.
package struct MemoryPeak: Sendable, Codable {
    package var workload: String
    /// `silo R=2` for a cluster's processes, `silo` for the chunk workload's lone node.
    package var system: String
    /// `gateway`, `node-3`, `node`.
    package var process: String
    package var peakRSSBytes: Int

    enum CodingKeys: String, CodingKey {
        case workload, system, process
        case peakRSSBytes = "peak_rss_bytes"
    }
}

/// The peaks collected during a run, in the order measured.
final class MemoryLog: Sendable {
    private let peaks = Mutex<[MemoryPeak]>([])

    func record(workload: String, system: String, process: String, pid: pid_t) {
        guard let bytes = ProcessMemory.peakResidentBytes(pid) else { return }
        peaks.withLock {
            $0.append(MemoryPeak(workload: workload, system: system, process: process, peakRSSBytes: bytes))
        }
    }

    /// Records the peak of every gateway and node of `cluster` during `workload`, then starts their
    /// high-water marks over for the next workload.
    func recordCluster(_ cluster: ThrowawayCluster, workload: String) {
        for (name, pid) in cluster.processes {
            record(workload: workload, system: "silo R=\(cluster.replicas)", process: name, pid: pid)
            ProcessMemory.resetPeak(pid)
        }
    }

    var all: [MemoryPeak] { peaks.withLock { $0 } }
}
