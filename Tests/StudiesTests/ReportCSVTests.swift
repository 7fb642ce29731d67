// ReportCSVTests.swift — the committed report/ CSVs are for programs: no cell holds formatted text such as
// "76.1 ± 13.7%" or an em dash for "none" (mean, SE and n have their own numeric columns, a missing value is
// an empty cell), and learning rates are short numbers like 3e-3.

import Foundation
import XCTest

final class ReportCSVTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The cells of a CSV text that read as formatted numbers, not as numbers (± text, percentages, em dashes).
    static func formattedCells(_ csv: String) -> [String] {
        TestCSV.rows(csv).joined().filter { $0.contains("±") || $0 == "—" || ($0.hasSuffix("%") && Double($0.dropLast()) != nil) }
    }

    func testReportCSVCellsAreNumbersNotFormattedText() throws {
        let dir = Self.root.appendingPathComponent("report")
        let files = try XCTUnwrap(FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "csv" }
        XCTAssertGreaterThan(files.count, 10, "report/ holds the studies' CSVs")
        for f in files {
            let text = try String(contentsOf: f, encoding: .utf8)
            XCTAssertEqual(Self.formattedCells(text), [], f.path)
            // Learning-rate columns: short numbers (at most 3 significant digits), not float32 round-trips.
            let lines = TestCSV.rows(text)
            guard let header = lines.first else { continue }
            for (i, name) in header.enumerated() where name == "lr" || name == "best lr" {
                for row in lines.dropFirst() where i < row.count && !row[i].isEmpty {
                    XCTAssertNotNil(Double(row[i]), "\(f.lastPathComponent): lr \(row[i])")
                    XCTAssertLessThanOrEqual(row[i].count, 7, "\(f.lastPathComponent): lr \(row[i]) is not a short number")
                }
            }
        }
    }

    /// Control: the check flags the cells the issue found in the old recall table.
    func testFormattedCellsAreFound() {
        XCTAssertEqual(Self.formattedCells("layer,acc,n\nttt-linear,76.1 ± 13.7%,3\nmamba,—,1\nx,12.5%,2\n"), ["76.1 ± 13.7%", "—", "12.5%"])
        XCTAssertEqual(Self.formattedCells("layer,acc mean,acc SE\nttt-linear,0.761,0.137\n"), [])
    }
}
