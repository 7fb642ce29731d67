// CorpusOption.swift — the `--data` corpus directory of `lab study` and `lab figures`, checked once.
import Foundation
import Layers
import TensorCore

/// Checks a `--data` corpus directory before any study runs. A missing directory is accepted (the
/// studies that train then say to run `lab data fetch`), so the option takes effect whenever a study
/// reads it; an empty path, a symlink loop, an unreadable path or one that is not a directory is
/// refused in one line, whichever studies were selected.
///
/// ```swift
/// try checkCorpusOption("data")        // fine, present or not
/// try checkCorpusOption("loop")        // throws: "… a symlink loop …"
/// ```
func checkCorpusOption(_ data: String) throws {
    guard !data.isEmpty else {
        throw LabError.badConfig("--data '' names no directory — pass the corpus directory written by 'lab data fetch' (default: data)")
    }
    var st = stat()
    if stat(data, &st) != 0 {
        let code = errno
        if code == ENOENT { return }
        let (problem, fix) = FileSafety.readProblem(code)
        throw LabError.badFile(path: data, problem: "\(problem) — \(fix), or pass the corpus directory written by 'lab data fetch'")
    }
    guard st.st_mode & S_IFMT == S_IFDIR else {
        throw LabError.badFile(path: data, problem: "not a directory — pass the corpus directory written by 'lab data fetch'")
    }
}
