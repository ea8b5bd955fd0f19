import Foundation

/// The scaling figures as two SVG files beside the report, written as plain SVG text (no library) so any
/// browser or image viewer shows them:
///
/// - `scaling-vs-concurrency.svg`: MB/s against concurrent clients, one line per object size;
/// - `scaling-vs-size.svg`: MB/s against object size, one line per client count.
///
/// Each holds a PUT panel and a GET panel on one shared y axis. Both axes are logarithmic (the sizes span
/// six orders of magnitude, the throughputs three). Colour tells the size or client count; the line style
/// tells the system: solid for Silo, dashed or dotted for each peer, so Silo sits beside each peer.
enum ScalingCharts {
    static let concurrencyFile = "scaling-vs-concurrency.svg"
    static let sizeFile = "scaling-vs-size.svg"

    /// Writes the charts when the report has scaling figures; returns the file names written.
    static func write(_ report: Report, to directory: String) throws -> [String] {
        let points = report.figures.compactMap(Point.init)
        guard !points.isEmpty else { return [] }
        let systems = orderedUnique(points.map(\.system))
        let note = "git \(report.git.prefix(12)), \(report.build) build, \(report.machine.cpuCount) CPUs, "
            + "\(report.scale ?? (report.quick ? "quick" : "full")) run, median of \(report.rounds) rounds"
        let byConcurrency = SVGChart(
            title: "Throughput against concurrency", subtitle: note, xLabel: "concurrent clients",
            colourLegendTitle: "object size", systems: systems,
            panels: ["put", "get"].map { operation in
                panel(points.filter { $0.operation == operation }, operation: operation,
                      x: { Double($0.concurrency) }, xLabel: { String(Int($0)) },
                      group: { $0.objectBytes }, groupLabel: { Format.size($0) })
            })
        let bySize = SVGChart(
            title: "Throughput against object size", subtitle: note, xLabel: "object size",
            colourLegendTitle: "clients", systems: systems,
            panels: ["put", "get"].map { operation in
                panel(points.filter { $0.operation == operation }, operation: operation,
                      x: { Double($0.objectBytes) }, xLabel: { Format.size(Int($0)) },
                      group: { $0.concurrency }, groupLabel: { "\($0) client" + ($0 == 1 ? "" : "s") })
            })
        try Report.replace(directory + "/" + concurrencyFile, with: Data(byConcurrency.svg().utf8))
        try Report.replace(directory + "/" + sizeFile, with: Data(bySize.svg().utf8))
        return [concurrencyFile, sizeFile]
    }

    /// One scaling figure as a point.
    struct Point {
        let operation: String
        let system: String
        let objectBytes: Int
        let concurrency: Int
        let megabytesPerSecond: Double

        init?(_ figure: Report.Figure) {
            let parts = figure.name.split(separator: ".")
            guard parts.count == 4, parts[0] == "scaling", let objectBytes = figure.objectBytes,
                  let concurrency = figure.concurrency, figure.value > 0 else { return nil }
            operation = String(parts[1])
            system = figure.isSilo ? "Silo" + (figure.replicas.map { " R=\($0)" } ?? "") : figure.system ?? "?"
            self.objectBytes = objectBytes
            self.concurrency = concurrency
            megabytesPerSecond = figure.value
        }
    }

    private static func panel(
        _ points: [Point], operation: String, x: (Point) -> Double, xLabel: (Double) -> String,
        group: (Point) -> Int, groupLabel: (Int) -> String
    ) -> SVGChart.Panel {
        let groups = Array(Set(points.map(group))).sorted()
        let systems = orderedUnique(points.map(\.system))
        var series: [SVGChart.Series] = []
        for (systemIndex, system) in systems.enumerated() {
            for (groupIndex, value) in groups.enumerated() {
                let line = points.filter { $0.system == system && group($0) == value }
                    .map { (x: x($0), y: $0.megabytesPerSecond) }.sorted { $0.x < $1.x }
                guard !line.isEmpty else { continue }
                series.append(SVGChart.Series(label: groupLabel(value), colourIndex: groupIndex,
                                              systemIndex: systemIndex, points: line))
            }
        }
        let xValues = Array(Set(points.map(x))).sorted()
        return SVGChart.Panel(title: operation.uppercased(), series: series,
                              xTicks: xValues.map { (value: $0, label: xLabel($0)) })
    }

    static func orderedUnique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}

/// A figure of side-by-side line-chart panels with log-scale axes, as SVG text.
struct SVGChart {
    struct Series {
        /// The colour legend's entry (a size or a client count).
        let label: String
        let colourIndex: Int
        /// Which system: picks the line style.
        let systemIndex: Int
        let points: [(x: Double, y: Double)]
    }

    struct Panel {
        let title: String
        let series: [Series]
        let xTicks: [(value: Double, label: String)]
    }

    static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    static let dashes = ["", "8 5", "2 4", "10 4 2 4"]

    let title: String
    let subtitle: String
    let xLabel: String
    let colourLegendTitle: String
    /// System names in line-style order (Silo first).
    let systems: [String]
    let panels: [Panel]

    // Layout, in SVG user units (pixels at 100 %).
    let panelWidth = 430.0
    let panelHeight = 300.0
    let marginLeft = 80.0
    let gap = 70.0
    let marginTop = 80.0
    let legendHeight = 90.0

    var width: Double { marginLeft + Double(panels.count) * panelWidth + Double(panels.count - 1) * gap + 30 }
    var height: Double { marginTop + panelHeight + 50 + legendHeight }

    func svg() -> String {
        let values = panels.flatMap { $0.series.flatMap { $0.points.map(\.y) } }
        let yRange = Self.logRange(values)
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="26" text-anchor="middle" font-size="18" font-weight="bold">\(Self.escape(title))</text>
            <text x="\(Int(width / 2))" y="46" text-anchor="middle" fill="#555">\(Self.escape(subtitle))</text>

            """
        for (index, panel) in panels.enumerated() {
            let left = marginLeft + Double(index) * (panelWidth + gap)
            out += draw(panel, left: left, yRange: yRange)
        }
        out += legend()
        out += "</svg>\n"
        return out
    }

    private func draw(_ panel: Panel, left: Double, yRange: (low: Double, high: Double)) -> String {
        let top = marginTop
        let bottom = top + panelHeight
        let xs = panel.xTicks.map(\.value)
        let xLow = log10(xs.first ?? 1), xHigh = log10(xs.last ?? 10)
        // Half a step of padding each side, so the first and last points are not on the frame.
        let pad = xs.count > 1 ? (xHigh - xLow) / Double(xs.count - 1) / 2 : 0.5
        func px(_ x: Double) -> Double { left + (log10(x) - (xLow - pad)) / (xHigh - xLow + 2 * pad) * panelWidth }
        func py(_ y: Double) -> Double {
            bottom - (log10(y) - log10(yRange.low)) / (log10(yRange.high) - log10(yRange.low)) * panelHeight
        }
        var out = "<g>\n"
        out += "<text x=\"\(f(left + panelWidth / 2))\" y=\"\(f(top - 10))\" text-anchor=\"middle\" font-size=\"14\" "
            + "font-weight=\"bold\">\(Self.escape(panel.title))</text>\n"
        // Grid and y ticks.
        for tick in Self.yTicks(yRange) {
            let y = py(tick)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + panelWidth))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(Self.number(tick))</text>\n"
        }
        for tick in panel.xTicks {
            let x = px(tick.value)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(x))\" y=\"\(f(bottom + 18))\" text-anchor=\"middle\">\(Self.escape(tick.label))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(panelWidth))\" height=\"\(f(panelHeight))\" "
            + "fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text x=\"\(f(left + panelWidth / 2))\" y=\"\(f(bottom + 40))\" text-anchor=\"middle\">"
            + "\(Self.escape(xLabel)) (log scale)</text>\n"
        let yMid = top + panelHeight / 2
        out += "<text x=\"\(f(left - 58))\" y=\"\(f(yMid))\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 \(f(left - 58)) \(f(yMid)))\">throughput, MB/s (log scale)</text>\n"
        for series in panel.series {
            let colour = Self.colours[series.colourIndex % Self.colours.count]
            let dash = Self.dashes[series.systemIndex % Self.dashes.count]
            let path = series.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\""
                + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") + "/>\n"
            for point in series.points {
                let filled = series.systemIndex == 0
                out += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3.5\" "
                    + "fill=\"\(filled ? colour : "white")\" stroke=\"\(colour)\" stroke-width=\"1.5\">"
                    + "<title>\(Self.escape(series.label)): \(Self.number(point.y)) MB/s</title></circle>\n"
            }
        }
        return out + "</g>\n"
    }

    private func legend() -> String {
        let top = marginTop + panelHeight + 62
        var out = "<g>\n"
        var labels: [(Int, String)] = []
        for panel in panels {
            for series in panel.series where !labels.contains(where: { $0.0 == series.colourIndex }) {
                labels.append((series.colourIndex, series.label))
            }
        }
        labels.sort { $0.0 < $1.0 }
        var x = marginLeft
        out += "<text x=\"\(f(x))\" y=\"\(f(top))\" font-weight=\"bold\">\(Self.escape(colourLegendTitle)):</text>\n"
        x += 100
        for (index, label) in labels {
            let colour = Self.colours[index % Self.colours.count]
            out += "<rect x=\"\(f(x))\" y=\"\(f(top - 10))\" width=\"14\" height=\"10\" fill=\"\(colour)\"/>\n"
            out += "<text x=\"\(f(x + 20))\" y=\"\(f(top))\">\(Self.escape(label))</text>\n"
            x += 30 + Double(label.count) * 7.5
        }
        let systemTop = top + 28
        x = marginLeft
        out += "<text x=\"\(f(x))\" y=\"\(f(systemTop))\" font-weight=\"bold\">system:</text>\n"
        x += 100
        for (index, system) in systems.enumerated() {
            let dash = Self.dashes[index % Self.dashes.count]
            out += "<line x1=\"\(f(x))\" y1=\"\(f(systemTop - 4))\" x2=\"\(f(x + 36))\" y2=\"\(f(systemTop - 4))\" "
                + "stroke=\"#333\" stroke-width=\"2\"" + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") + "/>\n"
            out += "<circle cx=\"\(f(x + 18))\" cy=\"\(f(systemTop - 4))\" r=\"3.5\" fill=\"\(index == 0 ? "#333" : "white")\" "
                + "stroke=\"#333\" stroke-width=\"1.5\"/>\n"
            out += "<text x=\"\(f(x + 44))\" y=\"\(f(systemTop))\">\(Self.escape(system))</text>\n"
            x += 70 + Double(system.count) * 7.5
        }
        return out + "</g>\n"
    }

    /// Whole decades around `values` (one decade when they all fall in one).
    static func logRange(_ values: [Double]) -> (low: Double, high: Double) {
        let positive = values.filter { $0 > 0 }
        guard let smallest = positive.min(), let largest = positive.max() else { return (1, 10) }
        let low = pow(10, floor(log10(smallest)))
        var high = pow(10, ceil(log10(largest)))
        if high <= low { high = low * 10 }
        return (low, high)
    }

    /// 1, 2, 5 in every decade; decades only when the range spans more than three.
    static func yTicks(_ range: (low: Double, high: Double)) -> [Double] {
        let decades = Int((log10(range.high) - log10(range.low)).rounded())
        var ticks: [Double] = []
        var decade = range.low
        while decade <= range.high * 1.0001 {
            ticks.append(decade)
            if decades <= 3 {
                for step in [2.0, 5.0] where decade * step < range.high { ticks.append(decade * step) }
            }
            decade *= 10
        }
        return ticks
    }

    static func number(_ value: Double) -> String {
        if value >= 1000 { return value.truncatingRemainder(dividingBy: 1000) == 0
            ? "\(Int(value / 1000))k" : String(format: "%.1fk", value / 1000) }
        if value >= 1 { return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value) }
        return String(format: "%g", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
