import BenchKit
import Foundation

/// A small fixed result set: a report as `latest.json` and baselines hold it (machine, calibration, systems,
/// memory), and figures measured from known samples on its calibration: one gated throughput figure with a
/// machine limit, one latency figure without.
enum ReportFixture {
    static let json = """
        {
          "build": "release", "date": "2025-01-02T03:04:05Z", "duration_s": 12.34, "git": "0123abc",
          "quick": true, "scale": "quick", "rounds": 3, "notes": [], "charts": null, "figures": [],
          "machine": {
            "cpu_count": 2, "cpu_model": "Test CPU", "memory_bytes": 4294967296, "kernel": "6.1.0",
            "hostname": "bench-test", "io_backend": "io_uring", "registered_buffers": true, "crc32c_hardware": true
          },
          "calibration": {
            "memcpy_MBps": 8000, "loopback_tcp_MBps": 3000, "disk_write_MBps": 1500, "disk_read_MBps": 2000,
            "disk_io_backend": "io_uring",
            "samples": {"memcpy_MBps": [8000], "loopback_tcp_MBps": [3000], "disk_write_MBps": [1500],
                        "disk_read_MBps": [2000]}
          },
          "systems": [
            {"label": "silo", "endpoint": "http://127.0.0.1:8080", "silo": true, "replicas": 2, "chunk_bytes": 16777216}
          ],
          "memory": [{"workload": "chunk", "system": "silo", "process": "node", "peak_rss_bytes": 100663296}]
        }
        """

    static let base = try! JSONDecoder().decode(Report.self, from: Data(json.utf8))
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
                             calibration: base.calibration, facts: facts)
    }

    /// By default put (median 1000 MB/s against a limit of 1500, disk write's; best round 1100) and headP99.
    static func report(build: String = "release", scale: String = "quick", figures: [Report.Figure]? = nil)
        -> Report
    {
        var report = base
        report.build = build
        report.scale = scale
        report.quick = scale == "quick"
        report.figures = figures ?? [figure(put, [900, 1100, 1000], build: build),
                                     figure(headP99, [4, 6.25, 5], workload: "e2e", build: build)]
        return report
    }
}
