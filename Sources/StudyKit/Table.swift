// Table.swift — a titled table of results that renders to GitHub Markdown and RFC 4180 CSV.

import Foundation

/// A table of study results: typed columns, rows of cells, a title and notes.
///
/// Markdown shows numbers through each column's ``Format``; CSV keeps full precision (shortest
/// round-trip decimal) so the data can be re-plotted exactly. Both renderings are deterministic.
///
/// ```swift
/// var t = Table(name: "equivalence", title: "Dual vs primal form",
///               columns: [.init("layer"), .init("seq len", format: .integer),
///                         .init("max |Δ|", format: .scientific(2)), .init("time", unit: "ms", format: .significant(3))])
/// t.append(["ttt-linear", 2048, 3.1e-7, 12.345])
/// t.notes = ["Δ is the max absolute difference of the outputs."]
/// print(t.markdown())   // | layer | seq len | max |Δ| | time (ms) | …
/// try t.csv()           // layer,seq len,max |Δ|,time (ms)\r\n ttt-linear,2048,3.1e-07,12.345\r\n
/// ```
public struct Table: Sendable, Equatable {
    /// How a column shows numbers in Markdown (CSV always keeps full precision).
    public enum Format: Sendable, Equatable {
        /// Cells as given; numbers in shortest round-trip form.
        case plain
        /// Rounded to an integer (`%.0f`).
        case integer
        /// Fixed decimals: `.fixed(2)` → `3.14`.
        case fixed(Int)
        /// Significant digits (`%.Ng`): `.significant(3)` → `0.000123`, `1.23e+06`.
        case significant(Int)
        /// Scientific with N decimals (`%.Ne`): `.scientific(2)` → `3.10e-07`. Use for errors.
        case scientific(Int)
        /// Value × 100 with N decimals and a `%` sign: `.percent(1)` → `12.5%`.
        case percent(Int)
        /// Any printf format for one `double`, e.g. `"%.2fx"`.
        case printf(String)
    }

    /// Text alignment of a column in Markdown.
    public enum Alignment: Sendable, Equatable { case left, right, center }

    /// A column: a name, an optional unit (shown as `name (unit)`), a number format and an alignment.
    public struct Column: Sendable, Equatable {
        public var name: String
        public var unit: String?
        public var format: Format
        /// `nil` means right for numeric formats and left for `.plain`.
        public var alignment: Alignment?

        public init(_ name: String, unit: String? = nil, format: Format = .plain, alignment: Alignment? = nil) {
            self.name = name
            self.unit = unit
            self.format = format
            self.alignment = alignment
        }

        /// The header text: `name` or `name (unit)`.
        public var header: String { unit.map { "\(name) (\($0))" } ?? name }

        var resolvedAlignment: Alignment {
            if let alignment { return alignment }
            if case .plain = format { return .left }
            return .right
        }
    }

    /// One cell. Literals work directly: `["ttt-mlp", 2048, 0.25]`.
    public enum Cell: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
        ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
    {
        case text(String)
        case number(Double)
        case integer(Int)
        case empty

        public init(stringLiteral value: String) { self = .text(value) }
        public init(integerLiteral value: Int) { self = .integer(value) }
        public init(floatLiteral value: Double) { self = .number(value) }
        public init(booleanLiteral value: Bool) { self = .text(value ? "yes" : "no") }
        public init(nilLiteral: ()) { self = .empty }
        /// A `Float` (e.g. from a tensor) as a number cell.
        public static func float(_ value: Float) -> Cell { .number(Double(value)) }
    }

    /// File stem for the CSV (`<name>.csv`): lowercase letters, digits, `-`, `_`, `.`.
    public var name: String
    /// Heading shown above the table in the study's Markdown.
    public var title: String
    public var columns: [Column]
    public var rows: [[Cell]]
    /// Short paragraphs shown under the table (Markdown allowed).
    public var notes: [String]

    public init(name: String, title: String, columns: [Column], rows: [[Cell]] = [], notes: [String] = []) {
        self.name = name
        self.title = title
        self.columns = columns
        self.rows = rows
        self.notes = notes
    }

    /// Appends a row. The row must have one cell per column.
    public mutating func append(_ row: [Cell]) {
        precondition(row.count == columns.count,
                     "Table '\(name)': row has \(row.count) cells but the table has \(columns.count) columns — pass one cell per column")
        rows.append(row)
    }

    /// Throws a one-line error if the name is not file-safe, there are no columns, or a row is ragged.
    public func validate() throws {
        try validateFileName(name, kind: "table")
        if columns.isEmpty {
            throw StudyKitError.invalid("table '\(name)' has no columns — give it at least one Table.Column")
        }
        for (i, row) in rows.enumerated() where row.count != columns.count {
            throw StudyKitError.invalid("table '\(name)' row \(i + 1) has \(row.count) cells but \(columns.count) columns — pass one cell per column")
        }
    }

    // MARK: Rendering

    /// The cell as shown in Markdown, using the column's format.
    public func formatted(_ cell: Cell, column: Int) -> String {
        let format = column < columns.count ? columns[column].format : .plain
        return Table.format(cell, with: format)
    }

    /// Formats one cell with `format` (deterministic: C locale, `-0` shown as `0`).
    public static func format(_ cell: Cell, with format: Format) -> String {
        switch cell {
        case .empty: return ""
        case .text(let s): return s
        case .integer(let i):
            switch format {
            case .plain, .integer: return String(i)
            default: return Table.format(.number(Double(i)), with: format)
            }
        case .number(let x):
            if x.isNaN { return "NaN" }
            if x.isInfinite { return x > 0 ? "inf" : "-inf" }
            let s: String
            switch format {
            case .plain: s = Table.shortest(x)
            case .integer: s = String(format: "%.0f", x)
            case .fixed(let n): s = String(format: "%.\(max(0, n))f", x)
            case .significant(let n): s = String(format: "%.\(max(1, n))g", x)
            case .scientific(let n): s = String(format: "%.\(max(0, n))e", x)
            case .percent(let n): s = String(format: "%.\(max(0, n))f", x * 100) + "%"
            case .printf(let f): s = String(format: f, x)
            }
            return Table.dropNegativeZero(s)
        }
    }

    /// Shortest round-trip decimal for a finite double (`0.1` → `0.1`, `3e-07` → `3e-07`).
    static func shortest(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }

    /// `-0`, `-0.00`, `-0.0%`, `-0e+00` → without the sign, so rounding to zero never shows a sign.
    static func dropNegativeZero(_ s: String) -> String {
        guard s.hasPrefix("-") else { return s }
        let body = s.dropFirst()
        let mantissa = body.prefix { $0 != "e" && $0 != "E" }
        if mantissa.allSatisfy({ $0 == "0" || $0 == "." || $0 == "%" }) { return String(body) }
        return s
    }

    /// GitHub-flavoured Markdown: header, alignment row, one line per row; columns padded for reading.
    /// `|` in cells is escaped and newlines become spaces.
    public func markdown() -> String {
        let header = columns.map { Table.markdownEscape($0.header) }
        let body = rows.map { row in
            (0 ..< columns.count).map { c in c < row.count ? Table.markdownEscape(formatted(row[c], column: c)) : "" }
        }
        var widths = header.map { max(3, $0.count) }
        for row in body { for (c, s) in row.enumerated() { widths[c] = max(widths[c], s.count) } }
        func pad(_ s: String, _ c: Int) -> String {
            let fill = String(repeating: " ", count: widths[c] - s.count)
            switch columns[c].resolvedAlignment {
            case .right: return fill + s
            case .left: return s + fill
            case .center:
                let left = fill.count / 2
                return String(repeating: " ", count: left) + s + String(repeating: " ", count: fill.count - left)
            }
        }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { pad($0.element, $0.offset) }.joined(separator: " | ") + " |"
        }
        let rule = "|" + columns.enumerated().map { c, col -> String in
            let w = widths[c]
            switch col.resolvedAlignment {
            case .left: return " " + String(repeating: "-", count: w) + " "
            case .right: return " " + String(repeating: "-", count: w - 1) + ": "
            case .center: return " :" + String(repeating: "-", count: w - 2) + ": "
            }
        }.joined(separator: "|") + "|"
        var out = [line(header), rule]
        out += body.map(line)
        return out.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 CSV: a header row of `name (unit)`, then rows; numbers at full precision
    /// (shortest round-trip), fields with `,` `"` CR or LF quoted, quotes doubled.
    public func csv(lineEnding: String = "\r\n") -> String {
        var lines = [columns.map { Table.csvField($0.header) }.joined(separator: ",")]
        for row in rows {
            let cells = (0 ..< columns.count).map { c -> String in
                guard c < row.count else { return "" }
                switch row[c] {
                case .number(let x): return Table.csvField(Table.format(.number(x), with: .plain))
                default: return Table.csvField(Table.format(row[c], with: .plain))
                }
            }
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: lineEnding) + lineEnding
    }

    /// Quotes a CSV field when needed (RFC 4180 §2.6–2.7).
    public static func csvField(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    static func markdownEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\r\n", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
    }
}
