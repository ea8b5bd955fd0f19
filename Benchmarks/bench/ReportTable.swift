/// The report as plain aligned text (the terminal) and as Markdown (`results/latest.md`).
struct ReportTable {
    let report: Report

    init(_ report: Report) { self.report = report }

    static let debugWarning = """
        !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
        !!  DEBUG BUILD: these figures say nothing about Silo's speed.               !!
        !!  Measure with `swift run -c release bench` (or plain `swift run bench`,   !!
        !!  which builds release and re-executes itself).                            !!
        !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
        """

    static let figureHeader = ["figure", "setup", "value", "unit", "target", "goal", "limit", "ratio", "pass"]
    static let calibrationHeader = ["calibration", "value", "unit"]

    var figureRows: [[String]] {
        report.figures.map { figure in
            [figure.name, Self.setup(figure), Format.value(figure.value), figure.unit,
             figure.target.map(Format.value) ?? "-", figure.goal.map(Format.value) ?? "-",
             figure.limit.map(Format.value) ?? "-", figure.limitRatio.map(Format.ratio) ?? "-",
             figure.pass.map { $0 ? "PASS" : "FAIL" } ?? "-"]
        }
    }

    /// `R=2, 16 MiB chunks` for a figure measured on a cluster; `-` for the others.
    static func setup(_ figure: Report.Figure) -> String {
        var parts: [String] = []
        if let replicas = figure.replicas { parts.append("R=\(replicas)") }
        if let chunkBytes = figure.chunkBytes {
            parts.append(chunkBytes % (1 << 20) == 0 ? "\(chunkBytes >> 20) MiB chunks" : "\(chunkBytes) B chunks")
        }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    var calibrationRows: [[String]] {
        guard let calibration = report.calibration else { return [] }
        return CalibrationFigure.allCases.map { [$0.rawValue, Format.value(calibration.value($0)), "MB/s"] }
    }

    var summaryLines: [String] {
        let machine = report.machine
        var lines = [
            "git \(report.git), build \(report.build), \(report.date)"
                + (report.quick ? ", quick" : "") + ", median of \(report.rounds) rounds",
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
        return lines
    }

    /// Aligned columns: names left, numbers right.
    func text() -> String {
        var out = ""
        if report.build == "debug" { out += Self.debugWarning + "\n\n" }
        out += summaryLines.joined(separator: "\n") + "\n\n"
        if !calibrationRows.isEmpty {
            out += Self.aligned([Self.calibrationHeader] + calibrationRows) + "\n"
        }
        if !figureRows.isEmpty {
            out += Self.aligned([Self.figureHeader] + figureRows) + "\n"
        }
        if report.build == "debug" { out += Self.debugWarning + "\n" }
        return out
    }

    func markdown() -> String {
        var out = "# Bench results\n\n"
        if report.build == "debug" {
            out += "> **DEBUG BUILD: these figures say nothing about Silo's speed.**\n\n"
        }
        out += summaryLines.map { "- " + $0 }.joined(separator: "\n") + "\n\n"
        if !calibrationRows.isEmpty {
            out += Self.markdownTable([Self.calibrationHeader] + calibrationRows) + "\n"
        }
        if !figureRows.isEmpty {
            out += Self.markdownTable([Self.figureHeader] + figureRows) + "\n"
        }
        out += "MB/s = 10^6 bytes/s. ratio = value / limit, the smallest of the machine limits the figure "
            + "depends on (chunk and e2e put: loopback TCP and disk write; chunk and e2e get: loopback TCP and "
            + "disk read). setup: the replication factor and chunk size of the cluster an e2e figure was "
            + "measured on (at R=2 every uploaded byte crosses loopback three times and is written twice).\n"
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
