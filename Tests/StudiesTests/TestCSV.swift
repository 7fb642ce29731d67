// TestCSV.swift — the RFC 4180 reader the report tests share (quoted fields, doubled quotes; CRLF or LF).

import Foundation

enum TestCSV {
    /// The rows of a CSV text, each a list of fields.
    static func rows(_ s: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var it = Array(s).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = it.next() { if n == "\"" { field.append("\"") } else { quoted = false; pending = n } } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { row.append(field); field = "" }
            else if c == "\r\n" || c == "\n" || c == "\r" { row.append(field); field = ""; rows.append(row); row = [] }
            else { field.append(c) }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    /// The rows of a CSV file as dictionaries by header.
    static func dictionaries(at url: URL) throws -> [[String: String]] {
        let rows = rows(try String(contentsOf: url, encoding: .utf8))
        guard let header = rows.first else { return [] }
        return rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }
}
