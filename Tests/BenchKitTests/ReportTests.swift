import BenchKit
import Foundation
import Testing

@Suite struct ReportTests {
    @Test func figureIsTheMedianBesideTheSmallestLimit() throws {
        let figure = ReportFixture.figure(ReportFixture.put, [900, 1100, 1000])
        #expect(figure.value == 1000)
        #expect(figure.limitedBy == ["loopback_tcp_MBps", "disk_write_MBps"])
        // Disk write (1500) bounds it, not loopback TCP (3000).
        #expect(figure.limit == 1500)
        #expect(figure.limitRatio == 0.667)
        // The best round of a throughput figure is its fastest.
        #expect(figure.limitRatioBest == 0.733)
        #expect(figure.min == 900 && figure.max == 1100)
        #expect(figure.pass == true && figure.goalMet == true)
        #expect(figure.objectBytes == 256 << 20 && figure.concurrency == 1)
        #expect(figure.gated == true && figure.workload == "chunk" && figure.build == "release")
        #expect(figure.key == "chunk.put.1stream")
    }

    @Test func latencyFigurePassesBelowItsTargetAndHasNoLimit() {
        let fast = ReportFixture.figure(ReportFixture.headP99, [4, 6.25, 5])
        #expect(fast.value == 5 && fast.min == 4 && fast.max == 6.3)
        #expect(fast.pass == true && fast.goalMet == true)
        #expect(fast.limit == nil && fast.limitRatio == nil && fast.limitRatioBest == nil)

        let slow = ReportFixture.figure(ReportFixture.headP99, [60, 70, 80])
        #expect(slow.pass == false && slow.goalMet == false)
    }

    @Test func jsonWritesAbsentValuesAsNullAndReadsBackUnchanged() throws {
        let json = try ReportFixture.report().json()
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["build"] as? String == "release")
        #expect(object["scale"] as? String == "quick")
        #expect(object["duration_s"] as? Double == 12.3)
        let calibration = try #require(object["calibration"] as? [String: Any])
        #expect(calibration["disk_write_MBps"] as? Double == 1500)
        let figures = try #require(object["figures"] as? [[String: Any]])
        #expect(figures.count == 2)
        #expect(figures[0]["name"] as? String == "chunk.put.1stream")
        #expect(figures[0]["limit_ratio_best"] as? Double == 0.733)
        #expect(figures[0]["object_bytes"] as? Int == 256 << 20)
        // A figure without a limit still has the keys, as null: readers see one shape.
        #expect(figures[1]["limit"] is NSNull)
        #expect(figures[1]["limit_ratio"] is NSNull)
        #expect(figures[1]["replicas"] is NSNull)
        #expect(figures[1]["silo_ratio"] == nil, "silo_ratio only on a peer's figure")

        let read = try JSONDecoder().decode(Report.self, from: json)
        #expect(try read.json() == json)
    }

    @Test func markdownHasOneRowPerFigureAndTheCalibration() {
        let markdown = ReportTable(ReportFixture.report()).markdown()
        let lines = markdown.split(separator: "\n").map(String.init)
        #expect(lines.first == "# Bench results")
        #expect(lines.contains("| figure | setup | value | unit | target | goal | limit | ratio | pass |"))
        #expect(lines.contains("| chunk.put.1stream | 256MiB × 1 | 1000 | MB/s | 200 | 1000 | 1500 | 0.67 | PASS |"))
        #expect(lines.contains("| metadata.head.p99_ms | - | 5.0 | ms | 50.0 | 5.0 | - | - | PASS |"))
        #expect(lines.contains("| disk_write_MBps | 1500 | MB/s |"))
        #expect(lines.contains("| chunk | silo | - | 96 | 96 |"))
        #expect(!markdown.contains("DEBUG BUILD"))
    }

    @Test func textAlignsTheSameRows() {
        let text = ReportTable(ReportFixture.report()).text()
        let row = text.split(separator: "\n").first { $0.hasPrefix("chunk.put.1stream") }
        let cells = row.map { $0.split(separator: " ").map(String.init) }
        #expect(cells == ["chunk.put.1stream", "256MiB", "×", "1", "1000", "MB/s", "200", "1000", "1500", "0.67", "PASS"])
        #expect(text.contains("git 0123abc, build release, 2025-01-02T03:04:05Z, quick, median of 3 rounds, run took 12 s"))
    }

    @Test func debugReportCarriesTheWarningInBothRenderings() {
        let report = ReportFixture.report(build: "debug")
        #expect(ReportTable(report).text().hasPrefix(ReportTable.debugWarning))
        #expect(ReportTable(report).markdown().contains("**DEBUG BUILD: these figures say nothing about Silo's speed.**"))
    }

    @Test func peerFigureGetsSiloOverPeerRatio() {
        let silo = ReportFixture.figure(ReportFixture.headP99, [4, 6.25, 5], workload: "e2e")
        var peer = ReportFixture.figure(ReportFixture.headP99, [9, 10, 11], workload: "e2e")
        peer.system = "moto"
        var report = ReportFixture.report(figures: [silo, peer])
        report.compareWithSilo(replicas: 2)
        #expect(report.figures[0].siloRatio == nil)
        #expect(report.figures[1].siloRatio == 0.5)
        #expect(report.figures[1].key == "metadata.head.p99_ms#moto")

        let lines = ReportTable(report).markdown().split(separator: "\n").map(String.init)
        #expect(lines.contains("| metadata.head.p99_ms | moto | - | 10.0 | ms | 50.0 | 5.0 | - | - | PASS | 0.50 |"))
    }
}
