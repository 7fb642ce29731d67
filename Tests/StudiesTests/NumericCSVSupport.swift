// NumericCSVSupport.swift — the machine-readable-output check shared by the training studies' tests: every
// cell of a column whose header declares a number (a numeric format, or a name in `alsoNumeric` such as
// "lr") parses as a number in the CSV, or is empty.
import Foundation
import StudyKit
import XCTest

/// Headers (`name (unit)`) of `t`'s columns that declare a number.
func numericColumns(_ t: Table, alsoNumeric: Set<String> = ["lr"]) -> [String] {
    t.columns.filter { c in
        if alsoNumeric.contains(c.name) { return true }
        if case .plain = c.format { return false }
        return true
    }.map(\.header)
}

/// The cells of numeric columns that do not parse as finite numbers (and rows whose field count differs from
/// the header's), with the number of numeric cells checked.
func numericCSVProblems(_ t: Table, alsoNumeric: Set<String> = ["lr"]) -> (checked: Int, problems: [String]) {
    let rows = TestCSV.rows(t.csv())
    guard let header = rows.first else { return (0, ["\(t.name): empty CSV"]) }
    let numeric = Set(numericColumns(t, alsoNumeric: alsoNumeric))
    var checked = 0, problems: [String] = []
    for r in rows.dropFirst() {
        if r.count != header.count { problems.append("\(t.name): a row with \(r.count) fields under \(header.count) headers") }
        for (h, cell) in zip(header, r) where numeric.contains(h) && !cell.isEmpty {
            checked += 1
            if !(Double(cell).map { $0.isFinite } ?? false) { problems.append("\(t.name), column '\(h)': '\(cell)' is not a number") }
        }
    }
    return (checked, problems)
}

/// Every numeric column's cells parse as finite numbers (or are empty); returns the cells checked (assert it
/// is > 0, so the check cannot pass vacuously).
@discardableResult
func assertNumericCSV(_ t: Table, alsoNumeric: Set<String> = ["lr"], file: StaticString = #filePath, line: UInt = #line) -> Int {
    let (checked, problems) = numericCSVProblems(t, alsoNumeric: alsoNumeric)
    XCTAssertEqual(problems, [], file: file, line: line)
    return checked
}
