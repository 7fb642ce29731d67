// Chart.swift — a declarative line/point chart (one or more panels) that renders to gnuplot data + script.

/// A line/point chart: one panel, or several in a `rows × columns` grid. Looks come from
/// ``ChartStyle``: each series is styled by its `styleKey` (a layer name), so a layer looks the same
/// in every chart.
///
/// ``gnuplotData()`` gives one data block per series (selected with `index N`); ``gnuplotScript(dataFile:)``
/// gives a script that writes `<name>.png` and `<name>.svg` (override with `-e "pngfile='…'; svgfile='…'"`).
/// ``Gnuplot/render(_:in:timeout:)`` writes both files and runs gnuplot.
///
/// ```swift
/// let chart = Chart(name: "error-vs-length", title: "Dual vs primal error",
///                   x: .init("sequence length", unit: "tokens", log: true),
///                   y: .init("max |Δ|", log: true),
///                   series: [.init("ttt-linear", points: [(128, 2e-7), (2048, 4e-7)]),
///                            .init("ttt-mlp", points: [(128, 5e-7), (2048, 9e-7)])],
///                   referenceLines: [.init(y: 1e-5, label: "tolerance 1e-5")])
/// try Gnuplot.locate().render(chart, in: outputDir)   // error-vs-length.{dat,gp,png,svg}
/// ```
public struct Chart: Sendable, Equatable {
    /// An axis: label, optional unit (shown as `label (unit)`), log scale, optional fixed range.
    public struct Axis: Sendable, Equatable {
        public var label: String
        public var unit: String?
        public var log: Bool
        public var range: ClosedRange<Double>?

        public init(_ label: String, unit: String? = nil, log: Bool = false, range: ClosedRange<Double>? = nil) {
            self.label = label
            self.unit = unit
            self.log = log
            self.range = range
        }

        /// `label` or `label (unit)`.
        public var title: String { unit.map { "\(label) (\($0))" } ?? label }
    }

    /// How a series is drawn.
    public enum Mark: String, Sendable, Equatable {
        case linesPoints = "linespoints"
        case lines = "lines"
        case points = "points"
    }

    /// One series: legend name, points, and the style key (defaults to the name).
    public struct Series: Sendable, Equatable {
        public var name: String
        public var styleKey: String
        public var xs: [Double]
        public var ys: [Double]
        public var mark: Mark

        public init(_ name: String, styleKey: String? = nil, points: [(Double, Double)], mark: Mark = .linesPoints) {
            self.name = name
            self.styleKey = styleKey ?? name
            self.xs = points.map(\.0)
            self.ys = points.map(\.1)
            self.mark = mark
        }

        public init(_ name: String, styleKey: String? = nil, x: [Double], y: [Double], mark: Mark = .linesPoints) {
            precondition(x.count == y.count, "Series '\(name)': \(x.count) x values but \(y.count) y values — pass one y per x")
            self.name = name
            self.styleKey = styleKey ?? name
            self.xs = x
            self.ys = y
            self.mark = mark
        }

        /// The points as `(x, y)` pairs.
        public var points: [(Double, Double)] { Array(zip(xs, ys)) }
        /// The resolved look, from ``ChartStyle``.
        public var style: SeriesStyle { ChartStyle.style(for: styleKey) }
    }

    /// A horizontal line at `y` (a tolerance, a paper value), drawn in ``ChartStyle/referenceLine``.
    public struct ReferenceLine: Sendable, Equatable {
        public var y: Double
        public var label: String
        public init(y: Double, label: String) {
            self.y = y
            self.label = label
        }
    }

    /// Where the legend goes. The default, `outsideRight`, never covers data.
    public enum KeyPosition: String, Sendable, Equatable {
        case topLeft = "inside top left Left reverse"
        case topRight = "inside top right"
        case bottomLeft = "inside bottom left Left reverse"
        case bottomRight = "inside bottom right"
        case outsideRight = "outside right top vertical Left reverse"
        case below = "below center horizontal Left reverse"
    }

    /// One plot area.
    public struct Panel: Sendable, Equatable {
        public var title: String
        public var x: Axis
        public var y: Axis
        public var series: [Series]
        public var referenceLines: [ReferenceLine]
        public var key: KeyPosition

        public init(title: String = "", x: Axis, y: Axis, series: [Series], referenceLines: [ReferenceLine] = [],
                    key: KeyPosition = .outsideRight) {
            self.title = title
            self.x = x
            self.y = y
            self.series = series
            self.referenceLines = referenceLines
            self.key = key
        }
    }

    /// File stem: `<name>.dat`, `<name>.gp`, `<name>.png`, `<name>.svg`.
    public var name: String
    public var title: String
    public var panels: [Panel]
    /// Grid of panels; `columns` defaults to all panels in one row.
    public var rows: Int
    public var columns: Int

    /// A multi-panel chart (multiplot), e.g. two panels side by side: `rows: 1, columns: 2`.
    public init(name: String, title: String, panels: [Panel], rows: Int = 1, columns: Int? = nil) {
        self.name = name
        self.title = title
        self.panels = panels
        self.rows = max(1, rows)
        self.columns = max(1, columns ?? Int((Double(panels.count) / Double(max(1, rows))).rounded(.up)))
    }

    /// A single-panel chart.
    public init(name: String, title: String, x: Axis, y: Axis, series: [Series],
                referenceLines: [ReferenceLine] = [], key: KeyPosition = .outsideRight) {
        self.init(name: name, title: title,
                  panels: [Panel(x: x, y: y, series: series, referenceLines: referenceLines, key: key)])
    }

    /// Throws a one-line error if the name is not file-safe, the grid is too small, or a panel has
    /// nothing to draw (no finite point usable on its axes).
    public func validate() throws {
        try validateFileName(name, kind: "chart")
        if panels.isEmpty {
            throw StudyKitError.invalid("chart '\(name)' has no panels — give it at least one series")
        }
        if rows * columns < panels.count {
            throw StudyKitError.invalid("chart '\(name)' has \(panels.count) panels but a \(rows)×\(columns) grid — make rows × columns ≥ panels")
        }
        for (p, panel) in panels.enumerated() {
            let usable = panel.series.contains { s in
                zip(s.xs, s.ys).contains { x, y in
                    x.isFinite && y.isFinite && (!panel.x.log || x > 0) && (!panel.y.log || y > 0)
                }
            }
            if !usable {
                let which = panels.count > 1 ? "panel \(p + 1) of chart '\(name)'" : "chart '\(name)'"
                throw StudyKitError.invalid("\(which) has no finite point to draw (log axes need positive values) — check the study's measurements")
            }
        }
    }

    // MARK: gnuplot

    /// Data file: one block per series in panel order, separated by two blank lines (`index N`),
    /// two columns `x y`, non-finite values written as `NaN` (treated as missing).
    public func gnuplotData() -> String {
        var out = "# \(name).dat — generated by StudyKit. One block per series; select with 'index N'.\n"
        var index = 0
        for (p, panel) in panels.enumerated() {
            for s in panel.series {
                if index > 0 { out += "\n\n" }
                out += "# index \(index): panel \(p + 1), series '\(Chart.singleLine(s.name))' (style '\(s.styleKey)')\n"
                out += "# x y\n"
                if s.xs.isEmpty { out += "NaN NaN\n" }
                for (x, y) in zip(s.xs, s.ys) { out += "\(Chart.dataNumber(x)) \(Chart.dataNumber(y))\n" }
                index += 1
            }
        }
        return out
    }

    /// Script that draws the chart twice — PNG then SVG — reading `dataFile` (a path relative to the
    /// directory gnuplot runs in). Output names default to `<name>.png` / `<name>.svg` and can be
    /// overridden with the gnuplot variables `pngfile` and `svgfile`.
    public func gnuplotScript(dataFile: String? = nil) -> String {
        let data = dataFile ?? "\(name).dat"
        let (w, h) = ChartStyle.canvasSize(rows: rows, columns: columns)
        var lines = [
            "# \(name).gp — generated by StudyKit (style: ChartStyle). Render with: gnuplot \(name).gp",
            "# Data: \(data) — one block per series, selected with 'index N'.",
            "if (!exists(\"pngfile\")) pngfile = \(Chart.quote("\(name).png"))",
            "if (!exists(\"svgfile\")) svgfile = \(Chart.quote("\(name).svg"))",
        ]
        lines += ChartStyle.commonSettings
        lines.append("set style line 90 \(ChartStyle.referenceLine.gnuplot)")
        var styleIndex = 1
        var styleOf: [String: Int] = [:]
        for panel in panels {
            for s in panel.series where styleOf[s.styleKey] == nil {
                styleOf[s.styleKey] = styleIndex
                lines.append("set style line \(styleIndex) \(s.style.gnuplot)   # \(Chart.singleLine(s.styleKey))")
                styleIndex += 1
            }
        }
        let body = plotBody(dataFile: data, styleOf: styleOf)
        lines.append("")
        lines.append(ChartStyle.pngTerminal(width: w, height: h))
        lines.append("set output pngfile")
        lines += body
        lines.append("unset output")
        lines.append("")
        lines.append(ChartStyle.svgTerminal(width: w, height: h))
        lines.append("set output svgfile")
        lines += body
        lines.append("unset output")
        return lines.joined(separator: "\n") + "\n"
    }

    private func plotBody(dataFile: String, styleOf: [String: Int]) -> [String] {
        var lines: [String] = []
        let multi = panels.count > 1
        if multi {
            lines.append("set multiplot layout \(rows),\(columns) title \(Chart.quote(title)) font ',\(ChartStyle.titleFontSize)'")
        }
        var index = 0
        for panel in panels {
            let panelTitle = multi ? panel.title : (panel.title.isEmpty ? title : "\(title) — \(panel.title)")
            lines.append(panelTitle.isEmpty ? "unset title" : "set title \(Chart.quote(panelTitle)) font ',\(ChartStyle.titleFontSize)'")
            lines.append("set xlabel \(Chart.quote(panel.x.title))")
            lines.append("set ylabel \(Chart.quote(panel.y.title))")
            for (axis, a) in [("x", panel.x), ("y", panel.y)] {
                lines.append(a.log ? "set logscale \(axis) 10" : "unset logscale \(axis)")
                lines.append(a.log ? "set m\(axis)tics 10" : "set m\(axis)tics default")
                lines.append("set format \(axis) '%g'")
                if let r = a.range {
                    lines.append("set \(axis)range [\(ChartStyle.number(r.lowerBound)):\(ChartStyle.number(r.upperBound))]")
                } else {
                    lines.append("set \(axis)range [*:*]")
                }
            }
            lines.append("set key \(panel.key.rawValue)")
            lines.append("unset arrow")
            for r in panel.referenceLines {
                lines.append("set arrow from graph 0, first \(ChartStyle.number(r.y)) to graph 1, first \(ChartStyle.number(r.y)) nohead ls 90 front")
            }
            var items: [String] = []
            for s in panel.series {
                items.append("\(Chart.quote(dataFile)) index \(index) using 1:2 with \(s.mark.rawValue) ls \(styleOf[s.styleKey]!) title \(Chart.quote(s.name))")
                index += 1
            }
            // Reference lines span the whole width (arrows in graph x, data y) with a key entry each.
            // The invisible constant keeps the line inside an autoscaled y range.
            for r in panel.referenceLines {
                items.append("keyentry with lines ls 90 title \(Chart.quote(r.label))")
                items.append("\(ChartStyle.number(r.y)) with lines lc rgb '#FFFFFFFF' notitle")
            }
            lines.append("plot " + items.joined(separator: ", \\\n     "))
        }
        if multi { lines.append("unset multiplot") }
        return lines
    }

    /// A gnuplot single-quoted string: no escapes inside, `'` written as `''`; newlines become spaces.
    static func quote(_ s: String) -> String {
        "'" + singleLine(s).replacingOccurrences(of: "'", with: "''") + "'"
    }

    static func singleLine(_ s: String) -> String {
        s.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
    }

    static func dataNumber(_ x: Double) -> String {
        x.isFinite ? ChartStyle.number(x) : "NaN"
    }
}
