import BenchKit

/// A small fixed result set: one gated throughput figure with a machine limit and one latency figure
/// without, measured on a machine whose limits are known.
enum ReportFixture {
    static let calibration = Calibration(
        memcpyMBps: 8000, loopbackTCPMBps: 3000, diskWriteMBps: 1500, diskReadMBps: 2000, diskIOBackend: "io_uring",
        samples: ["memcpy_MBps": [8000], "loopback_tcp_MBps": [3000], "disk_write_MBps": [1500],
                  "disk_read_MBps": [2000]])
    static let machine = Machine(cpuCount: 2, cpuModel: "Test CPU", memoryBytes: 4 << 30, kernel: "6.1.0",
                                 hostname: "bench-test", ioBackend: "io_uring", registeredBuffers: true,
                                 crc32cHardware: true)
    static let facts = Report.RunFacts(build: "release", git: "0123abc", kernel: "6.1.0", cpuCount: 2)

    static let put = FigureSpec(name: "chunk.put.1stream", unit: .megabytesPerSecond, target: 200, goal: 1000,
                                better: .higher, limitedBy: [.loopbackTCP, .diskWrite], gated: true)
        .sized(objectBytes: 256 << 20, concurrency: 1)
    static let get = FigureSpec(name: "chunk.get.1stream", unit: .megabytesPerSecond, target: 200, goal: 1000,
                                better: .higher, limitedBy: [.loopbackTCP, .diskRead], gated: true)
        .sized(objectBytes: 256 << 20, concurrency: 1)
    static let headP99 = FigureSpec(name: "metadata.head.p99_ms", unit: .milliseconds, target: 50, goal: 5,
                                    better: .lower, limitedBy: [])

    static func figure(_ spec: FigureSpec, _ samples: [Double], workload: String = "chunk",
                       build: String = "release") -> Report.Figure {
        var facts = facts
        facts.build = build
        return Report.Figure(MeasuredFigure(spec: spec, samples: samples), workload: workload,
                             calibration: calibration, facts: facts)
    }

    /// put: median 1000 MB/s against a limit of 1500 (disk write, below loopback TCP); best round 1100.
    static func report(build: String = "release", scale: String = "quick", figures: [Report.Figure]? = nil)
        -> Report
    {
        Report(git: "0123abc", build: build, date: "2025-01-02T03:04:05Z", quick: scale == "quick", scale: scale,
               rounds: 3, machine: machine, calibration: calibration,
               figures: figures ?? [figure(put, [900, 1100, 1000], build: build),
                                    figure(headP99, [4, 6.25, 5], workload: "e2e", build: build)],
               systems: [Report.SystemEntry(label: "silo", endpoint: "http://127.0.0.1:8080", silo: true,
                                            replicas: 2, chunkBytes: 16 << 20)],
               memory: [MemoryPeak(workload: "chunk", system: "silo", process: "node", peakRSSBytes: 96 << 20)],
               notes: [], durationSeconds: 12.34)
    }
}
