// ChartStyle.swift — the lab's one place for chart looks: per-layer colours and dash types, fonts, sizes.

/// How one series is drawn: colour, dash type, point type, line width.
///
/// ```swift
/// let s = ChartStyle.style(for: "ttt-linear")   // same in every chart of the lab
/// s.color                                        // "#0072B2"
/// ```
public struct SeriesStyle: Sendable, Hashable {
    /// `#RRGGBB`.
    public var color: String
    /// gnuplot dash type: 1 solid, 2 dashed, 3 dotted, 4 dash-dot, 5 dash-dot-dot.
    public var dashType: Int
    /// gnuplot point type (pngcairo/svg): 4 open square, 5 filled square, 6 open circle, 7 filled circle,
    /// 9 filled triangle, 11 filled down-triangle, 13 filled diamond.
    public var pointType: Int
    public var lineWidth: Double

    public init(color: String, dashType: Int, pointType: Int, lineWidth: Double = 2) {
        self.color = color
        self.dashType = dashType
        self.pointType = pointType
        self.lineWidth = lineWidth
    }

    /// The gnuplot `set style line` body, e.g. `lc rgb '#0072B2' lw 2 dt 1 pt 7 ps 1.2`.
    public var gnuplot: String {
        "lc rgb '\(color)' lw \(ChartStyle.number(lineWidth)) dt \(dashType) pt \(pointType) ps \(ChartStyle.number(ChartStyle.pointSize))"
    }
}

/// The lab's chart style, in one place. Series are styled by a *style key* — a layer name — so the
/// same layer has the same colour and dash in every chart. Known keys (colour-blind-safe Okabe–Ito
/// colours):
///
/// | key | look |
/// |---|---|
/// | `ttt-linear` | blue, solid, filled circles |
/// | `ttt-mlp` | vermillion, solid, filled squares |
/// | `attention` (`transformer`) | green, dashed, triangles |
/// | `linear-attention` | purple, dash-dot, down-triangles |
/// | `mamba` | orange, dash-dot-dot, diamonds |
/// | `control` | grey, dotted, open circles — negative controls |
/// | `paper` | black, dashed, open squares — values reported in the paper |
///
/// Keys are matched case-insensitively with `_` and spaces read as `-`. Any other key gets a style
/// from a fallback palette chosen by a stable (FNV-1a) hash of the key: deterministic across runs
/// and machines.
///
/// ```swift
/// ChartStyle.style(for: "TTT_Linear") == ChartStyle.style(for: "ttt-linear")   // true
/// ChartStyle.style(for: "my-new-layer")   // a fallback style, the same every run
/// ```
public enum ChartStyle {
    /// Styles of the lab's known layers and roles.
    public static let known: [String: SeriesStyle] = [
        "ttt-linear": SeriesStyle(color: "#0072B2", dashType: 1, pointType: 7),
        "ttt-mlp": SeriesStyle(color: "#D55E00", dashType: 1, pointType: 5),
        "attention": SeriesStyle(color: "#009E73", dashType: 2, pointType: 9),
        "transformer": SeriesStyle(color: "#009E73", dashType: 2, pointType: 9),
        "linear-attention": SeriesStyle(color: "#CC79A7", dashType: 4, pointType: 11),
        "mamba": SeriesStyle(color: "#E69F00", dashType: 5, pointType: 13),
        "control": SeriesStyle(color: "#7F7F7F", dashType: 3, pointType: 6, lineWidth: 1.5),
        "paper": SeriesStyle(color: "#000000", dashType: 2, pointType: 4, lineWidth: 1.5),
    ]

    /// Colours for unknown keys (dark enough on white; none equal to a known colour).
    public static let fallbackColors = ["#56B4E9", "#882255", "#117733", "#332288", "#AA4499",
                                        "#999933", "#44AA99", "#661100", "#6699CC"]
    /// Dash types cycled for unknown keys.
    public static let fallbackDashTypes = [1, 2, 4, 5]
    /// Point types cycled for unknown keys.
    public static let fallbackPointTypes = [7, 5, 9, 11, 13, 6, 4]

    /// Horizontal reference lines (tolerances, paper values): dark grey dash-dot, thin.
    public static let referenceLine = SeriesStyle(color: "#444444", dashType: 4, pointType: 0, lineWidth: 1.5)
    /// Grid lines: light grey.
    public static let gridColor = "#D0D0D0"
    /// Minor grid lines (log axes): lighter grey.
    public static let minorGridColor = "#EBEBEB"

    /// Font for all text; DejaVu Sans has the Greek letters and symbols (Δ, μ, ×) we use.
    public static let font = "DejaVu Sans"
    public static let fontSize = 11
    public static let titleFontSize = 13
    public static let pointSize = 1.2
    /// Size of one chart panel in pixels (PNG) or points (SVG).
    public static let panelWidth = 900
    public static let panelHeight = 600

    /// The style for a key; see the type's documentation for the rules.
    public static func style(for key: String) -> SeriesStyle {
        let k = normalize(key)
        if let s = known[k] { return s }
        let h = fnv1a(k)
        let color = fallbackColors[Int(h % UInt64(fallbackColors.count))]
        let dash = fallbackDashTypes[Int((h / UInt64(fallbackColors.count)) % UInt64(fallbackDashTypes.count))]
        let point = fallbackPointTypes[Int((h >> 32) % UInt64(fallbackPointTypes.count))]
        return SeriesStyle(color: color, dashType: dash, pointType: point)
    }

    /// Lowercased, `_` and spaces → `-`, trimmed.
    public static func normalize(_ key: String) -> String {
        String(key.lowercased().map { $0 == "_" || $0 == " " ? "-" : $0 })
            .trimmingCharacters(in: ["-"])
    }

    /// Canvas size for a `rows × columns` multiplot.
    public static func canvasSize(rows: Int, columns: Int) -> (width: Int, height: Int) {
        let w = columns <= 1 ? panelWidth : 700 * columns
        let h = rows <= 1 ? panelHeight : 480 * rows
        return (w, h)
    }

    /// gnuplot terminal line for PNG output.
    public static func pngTerminal(width: Int, height: Int) -> String {
        "set terminal pngcairo size \(width),\(height) font '\(font),\(fontSize)' noenhanced background rgb 'white'"
    }

    /// gnuplot terminal line for SVG output.
    public static func svgTerminal(width: Int, height: Int) -> String {
        "set terminal svg size \(width),\(height) dynamic font '\(font),\(fontSize)' noenhanced background rgb 'white'"
    }

    /// Settings shared by every panel: border, tics, grid, key look.
    public static let commonSettings = [
        "set encoding utf8",
        "set datafile missing 'NaN'",
        "set border 3 lw 1.2 lc rgb '#333333'",
        "set tics nomirror out scale 0.75",
        "set style line 101 lc rgb '\(gridColor)' lw 1 dt 1",
        "set style line 102 lc rgb '\(minorGridColor)' lw 1 dt 1",
        "set grid back xtics ytics mxtics mytics ls 101, ls 102",
        "set key noopaque nobox samplen 3 spacing 1.2",
    ]

    /// 64-bit FNV-1a of the UTF-8 bytes: stable across processes (unlike `hashValue`).
    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// Numbers in gnuplot scripts: shortest round-trip form.
    static func number(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }
}
