// StudyKitError.swift — the one error type StudyKit throws, each case a one-line message with a fix.

import Foundation

/// Errors raised by StudyKit. `description` is a single line naming the problem and the fix.
///
/// ```swift
/// do { try StudyRunner().write(result, study: study, to: dir) }
/// catch { print("error: \(error)") }   // "error: table name 'My Table' is not a file-safe name — use …"
/// ```
public enum StudyKitError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// gnuplot could not be found or started. The message says how to install it.
    case gnuplotNotFound(String)
    /// gnuplot ran but failed (exit status) or produced no output.
    case gnuplotFailed(String)
    /// gnuplot ran longer than the time limit and was stopped.
    case gnuplotTimedOut(String)
    /// A table, chart or study result was malformed (bad name, ragged rows, empty chart…).
    case invalid(String)
    /// The file system refused a write.
    case io(String)

    public var description: String {
        switch self {
        case .gnuplotNotFound(let m), .gnuplotFailed(let m), .gnuplotTimedOut(let m), .invalid(let m), .io(let m):
            return m
        }
    }

    public var errorDescription: String? { description }
}

/// Checks that `name` is safe as a file stem: lowercase letters, digits, `-`, `_`, `.`; not starting with `.`.
func validateFileName(_ name: String, kind: String) throws {
    let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
    if name.isEmpty || name.hasPrefix(".") || !name.allSatisfy({ allowed.contains($0) }) {
        throw StudyKitError.invalid("\(kind) name '\(name)' is not a file-safe name — use lowercase letters, digits, '-', '_' or '.' (e.g. 'loss-vs-context')")
    }
}
