import BenchKit
import Testing

@Suite struct BenchGateTests {
    static let tolerance = 0.5

    /// This run's report with the put figure's best-round ratio set to `ratio` (the baseline's is 0.733).
    static func run(putRatio ratio: Double?) -> Report {
        var report = ReportFixture.report()
        report.figures[0].limitRatioBest = ratio
        return report
    }

    static let gate = BenchGate(baseline: ReportFixture.report(), tolerance: tolerance)

    @Test func figureWithinToleranceOfTheBaselinePasses() throws {
        // 0.4 is 45 % below 0.733: inside a 50 % tolerance.
        let verdicts = Self.gate.verdicts(Self.run(putRatio: 0.4))
        let verdict = try #require(verdicts.only)
        #expect(verdict.key == "chunk.put.1stream" && verdict.baselineRatio == 0.733 && verdict.ratio == 0.4)
        #expect(!verdict.failed)
        let text = BenchGate.text(verdicts, tolerance: Self.tolerance, baselinePath: "baseline.json")
        #expect(text.hasSuffix("bench gate: PASS (1 figures)\n"))
    }

    @Test func figureBelowToleranceFailsAndIsNamed() throws {
        let verdicts = Self.gate.verdicts(Self.run(putRatio: 0.3))
        #expect(try #require(verdicts.only).failed)
        let text = BenchGate.text(verdicts, tolerance: Self.tolerance, baselinePath: "baseline.json")
        #expect(text.contains("bench gate: FAIL: chunk.put.1stream fell more than 50% below the baseline's ratio"))
        let row = try #require(text.split(separator: "\n").first { $0.hasPrefix("chunk.put.1stream") })
        #expect(row.split(separator: " ") == ["chunk.put.1stream", "0.73", "0.30", "-59%", "FAIL"])
    }

    @Test func higherThanTheBaselineNeverFails() throws {
        #expect(try #require(Self.gate.verdicts(Self.run(putRatio: 5)).only).failed == false)
    }

    @Test func gatedFigureMissingFromARunOfItsWorkloadFails() throws {
        // The chunk workload ran (its get figure is there) but left no put figure.
        let run = ReportFixture.report(figures: [ReportFixture.figure(ReportFixture.get, [1500, 1600, 1700])])
        let verdict = try #require(Self.gate.verdicts(run).only)
        #expect(verdict.key == "chunk.put.1stream" && verdict.ratio == nil && verdict.failed)
        #expect(BenchGate.text([verdict], tolerance: Self.tolerance, baselinePath: "b").contains("missing"))
    }

    @Test func workloadLeftOutOfTheRunIsNotARegression() {
        let run = ReportFixture.report(figures: [ReportFixture.figure(ReportFixture.headP99, [5], workload: "e2e")])
        #expect(Self.gate.verdicts(run).isEmpty)
    }

    @Test func figureMissingFromTheBaselineIsNotGated() {
        // The baseline knows only the put figure; this run also has a gated get figure.
        let run = ReportFixture.report(figures: [ReportFixture.figure(ReportFixture.put, [900, 1100, 1000]),
                                                 ReportFixture.figure(ReportFixture.get, [10, 10, 10])])
        #expect(Self.gate.verdicts(run).map(\.key) == ["chunk.put.1stream"])
    }

    @Test func ungatedAndPeerFiguresOfTheBaselineAreNotHeld() {
        var peer = ReportFixture.figure(ReportFixture.put, [900, 1100, 1000])
        peer.system = "moto"
        let baseline = ReportFixture.report(figures: [ReportFixture.figure(ReportFixture.headP99, [5]), peer])
        let gate = BenchGate(baseline: baseline, tolerance: Self.tolerance)
        #expect(gate.verdicts(Self.run(putRatio: 0.01)).isEmpty)
    }

    @Test func baselineFromADebugBuildOrAnotherScaleIsRefused() throws {
        let debug = BenchGate(baseline: ReportFixture.report(build: "debug"), tolerance: Self.tolerance)
        #expect(throws: BenchError.self) { try debug.validate(against: ReportFixture.report()) }
        let full = BenchGate(baseline: ReportFixture.report(scale: "full"), tolerance: Self.tolerance)
        #expect(throws: BenchError.self) { try full.validate(against: ReportFixture.report()) }
        try Self.gate.validate(against: ReportFixture.report())
    }

    @Test func toleranceIsAPercentage() throws {
        #expect(try BenchGate.parseTolerance("15%") == 0.15)
        #expect(try BenchGate.parseTolerance("50") == 0.5)
        #expect(throws: BenchError.self) { try BenchGate.parseTolerance("100%") }
        #expect(throws: BenchError.self) { try BenchGate.parseTolerance("-1%") }
        #expect(throws: BenchError.self) { try BenchGate.parseTolerance("fast") }
    }

    #if DEBUG
    /// A debug build's figures say nothing about Silo's speed: it must not gate or write a baseline. The
    /// refusal comes before anything is read or started (the baseline named does not exist).
    @Test func debugBuildRefusesToGateOrWriteABaseline() async throws {
        var options = BenchOptions()
        options.baselinePath = "/nonexistent/baseline.json"
        #expect(try await BenchRun(options, packageRoot: nil).run() == .refused)
        options = BenchOptions()
        options.writeBaselinePath = "/nonexistent/baseline.json"
        #expect(try await BenchRun(options, packageRoot: nil).run() == .refused)
    }
    #endif
}

extension Array {
    /// The one element, or nil when there are none or several.
    fileprivate var only: Element? { count == 1 ? first : nil }
}
