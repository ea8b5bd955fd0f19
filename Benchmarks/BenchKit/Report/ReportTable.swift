/// The report as plain aligned text (the terminal) and as Markdown (`results/latest.md`).
package struct ReportTable {
    let report: Report

    package init(_ report: Report) { self.report = report }

    package static let debugWarning = """
        !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
        !!  DEBUG BUILD: these figures say nothing about Silo's speed.               !!
        !!  Measure with `swift run -c release bench` (or plain `swift run bench`,   !!
        !!  which builds release and re-executes itself).                            !!
        !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
        """

    var hasPeers: Bool { report.figures.contains { !$0.isSilo } }

    var figureHeader: [String] {
        ["figure"] + (hasPeers ? ["system"] : []) + ["setup", "value", "unit", "target", "goal", "limit", "ratio", "pass"]
            + (hasPeers ? ["silo/peer"] : [])
    }
    static let calibrationHeader = ["calibration", "value", "unit"]
    static let memoryHeader = ["peak RSS", "system", "gateway MiB", "largest node MiB", "all nodes MiB"]

    var figureRows: [[String]] {
        report.figures.map { figure in
            [figure.name] + (hasPeers ? [figure.system ?? S3System.siloLabel] : [])
                + [Self.setup(figure), Format.value(figure.value), figure.unit,
                   figure.target.map(Format.value) ?? "-", figure.goal.map(Format.value) ?? "-",
                   figure.limit.map(Format.value) ?? "-", figure.limitRatio.map(Format.ratio) ?? "-",
                   figure.pass.map { $0 ? "PASS" : "FAIL" } ?? "-"]
                + (hasPeers ? [figure.siloRatio.map(Format.ratio) ?? "-"] : [])
        }
    }

    /// `R=2, 16MiB chunks, 1MiB × 16` for a figure measured on a cluster; `-` for one with no setup.
    static func setup(_ figure: Report.Figure) -> String {
        var parts: [String] = []
        if let replicas = figure.replicas { parts.append("R=\(replicas)") }
        if let chunkBytes = figure.chunkBytes { parts.append("\(Format.size(chunkBytes)) chunks") }
        if let objectBytes = figure.objectBytes {
            parts.append(Format.size(objectBytes) + (figure.concurrency.map { " × \($0)" } ?? ""))
        }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// Per workload and cluster: the gateway's peak, the largest node's and the sum over nodes.
    var memoryRows: [[String]] {
        guard let memory = report.memory, !memory.isEmpty else { return [] }
        var order: [String] = []
        var groups: [String: [MemoryPeak]] = [:]
        for peak in memory {
            let key = peak.workload + "\u{0}" + peak.system
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(peak)
        }
        func mebibytes(_ bytes: Int?) -> String { bytes.map { String($0 >> 20) } ?? "-" }
        return order.map { key in
            let peaks = groups[key]!
            let nodes = peaks.filter { $0.process != "gateway" }.map(\.peakRSSBytes)
            return [peaks[0].workload, peaks[0].system,
                    mebibytes(peaks.first { $0.process == "gateway" }?.peakRSSBytes),
                    mebibytes(nodes.max()), mebibytes(nodes.isEmpty ? nil : nodes.reduce(0, +))]
        }
    }

    var calibrationRows: [[String]] {
        guard let calibration = report.calibration else { return [] }
        return CalibrationFigure.allCases.map { [$0.rawValue, Format.value(calibration.value($0)), "MB/s"] }
    }

    var summaryLines: [String] {
        let machine = report.machine
        var lines = [
            "git \(report.git), build \(report.build), \(report.date)"
                + ((report.scale ?? (report.quick ? "quick" : "full")) == "full" ? "" : ", \(report.scale ?? "quick")")
                + ", median of \(report.rounds) rounds"
                + (report.durationSeconds.map { ", run took \(Int($0)) s" } ?? ""),
            "\(machine.cpuCount) × \(machine.cpuModel), \(machine.memoryBytes >> 20) MiB, "
                + "kernel \(machine.kernel), host \(machine.hostname), crc32c hardware \(machine.crc32cHardware)",
        ]
        if let backend = machine.ioBackend {
            lines.append("node io backend \(backend), registered buffers "
                         + (machine.registeredBuffers.map(String.init) ?? "unknown"))
        }
        if let calibration = report.calibration {
            lines.append("calibration disk io backend \(calibration.diskIOBackend)")
        }
        for system in report.systems ?? [] where !system.silo {
            lines.append("peer \(system.label): \(system.endpoint)")
        }
        lines += report.notes ?? []
        return lines
    }

    /// Aligned columns: names left, numbers right.
    package func text() -> String {
        var out = ""
        if report.build == "debug" { out += Self.debugWarning + "\n\n" }
        out += summaryLines.joined(separator: "\n") + "\n\n"
        if !calibrationRows.isEmpty {
            out += Self.aligned([Self.calibrationHeader] + calibrationRows) + "\n"
        }
        if !figureRows.isEmpty {
            out += Self.aligned([figureHeader] + figureRows) + "\n"
        }
        if !memoryRows.isEmpty {
            out += Self.aligned([Self.memoryHeader] + memoryRows) + "\n"
        }
        if let charts = report.charts, !charts.isEmpty {
            out += "charts: " + charts.joined(separator: ", ") + "\n\n"
        }
        if report.build == "debug" { out += Self.debugWarning + "\n" }
        return out
    }

    package func markdown() -> String {
        var out = "# Bench results\n\n"
        if report.build == "debug" {
            out += "> **DEBUG BUILD: these figures say nothing about Silo's speed.**\n\n"
        }
        out += summaryLines.map { "- " + $0 }.joined(separator: "\n") + "\n\n"
        if !calibrationRows.isEmpty {
            out += Self.markdownTable([Self.calibrationHeader] + calibrationRows) + "\n"
        }
        if !figureRows.isEmpty {
            out += Self.markdownTable([figureHeader] + figureRows) + "\n"
        }
        if !memoryRows.isEmpty {
            out += Self.markdownTable([Self.memoryHeader] + memoryRows) + "\n"
        }
        for chart in report.charts ?? [] {
            out += "![\(chart)](\(chart))\n\n"
        }
        out += "MB/s = 10^6 bytes/s. ratio = value / limit, the smallest of the machine limits the figure "
            + "depends on (puts: loopback TCP and disk write; gets: loopback TCP and disk read). setup: the "
            + "replication factor and chunk size of the cluster a figure was measured on (at R=2 every uploaded "
            + "byte crosses loopback three times and is written twice), then object size × concurrent clients. "
            + "silo/peer: Silo's value of the figure divided by the peer's (for ms figures, below 1 means Silo "
            + "is faster). Peak RSS: the kernel's high-water mark (VmHWM) of each process during the workload.\n"
        return out
    }

    private static func aligned(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
        return rows.map { row in
            row.indices.map { column in
                let cell = row[column]
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    private static func markdownTable(_ rows: [[String]]) -> String {
        let header = "| " + rows[0].joined(separator: " | ") + " |"
        let rule = "|" + rows[0].indices.map { $0 == 0 ? "---|" : "---:|" }.joined()
        let body = rows.dropFirst().map { "| " + $0.joined(separator: " | ") + " |" }
        return ([header, rule] + body).joined(separator: "\n") + "\n"
    }
}
