// Progress.swift — progress messages and bars on a terminal; silence in pipes, logs and CI.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends progress to stderr when it is a terminal and `CI` is not set; otherwise stays silent, so
/// logs, pipes and CI runs only contain results.
///
/// ```swift
/// let reporter = ProgressReporter.automatic()       // interactive on a TTY, silent elsewhere
/// reporter.message("training ttt-linear")
/// let quiet = ProgressReporter(mode: .silent)
/// let captured = ProgressReporter(mode: .interactive) { text in print(text, terminator: "") }  // tests
/// ```
public final class ProgressReporter: @unchecked Sendable {
    public enum Mode: Sendable, Equatable {
        /// Messages as lines; bars redrawn in place with carriage returns.
        case interactive
        /// Nothing is written.
        case silent
    }

    public let mode: Mode
    private let sink: (String) -> Void
    private let lock = NSLock()
    /// True while a bar occupies the current terminal line.
    private var lineOpen = false

    /// A reporter writing to `sink` (default: stderr).
    public init(mode: Mode, sink: @escaping (String) -> Void = ProgressReporter.writeToStderr) {
        self.mode = mode
        self.sink = sink
    }

    /// Interactive if stderr is a terminal and `CI` is unset (or `0`/`false`); silent otherwise.
    public static func automatic(environment: [String: String] = ProcessInfo.processInfo.environment) -> ProgressReporter {
        ProgressReporter(mode: shouldBeInteractive(stderrIsTTY: isatty(2) == 1, environment: environment) ? .interactive : .silent)
    }

    /// The rule behind ``automatic(environment:)``.
    public static func shouldBeInteractive(stderrIsTTY: Bool, environment: [String: String]) -> Bool {
        guard stderrIsTTY else { return false }
        if let ci = environment["CI"]?.lowercased(), !ci.isEmpty, ci != "0", ci != "false" { return false }
        if environment["TERM"] == "dumb" { return false }
        return true
    }

    public static let writeToStderr: (String) -> Void = { text in
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// A step message on its own line (clears a bar drawn on the current line first).
    public func message(_ text: String) {
        guard mode == .interactive else { return }
        lock.lock(); defer { lock.unlock() }
        sink((lineOpen ? "\r\u{1B}[K" : "") + text + "\n")
        lineOpen = false
    }

    /// Redraws the current line (used by ``ProgressBar``).
    func redraw(_ line: String) {
        guard mode == .interactive else { return }
        lock.lock(); defer { lock.unlock() }
        sink("\r\u{1B}[K" + line)
        lineOpen = true
    }

    /// Ends the current line, leaving `line` visible.
    func close(_ line: String) {
        guard mode == .interactive else { return }
        lock.lock(); defer { lock.unlock() }
        sink("\r\u{1B}[K" + line + "\n")
        lineOpen = false
    }
}

/// A bar for `total` units of work: `training [#########.........]  45/100  45%  eta 12s`.
/// Thread-safe; redraws at most ~10 times a second.
///
/// ```swift
/// let bar = ctx.progressBar("sweep", total: lengths.count)
/// for T in lengths { measure(T); bar.advance() }
/// bar.finish()
/// ```
public final class ProgressBar: @unchecked Sendable {
    public let label: String
    public let total: Int
    private let reporter: ProgressReporter
    private let lock = NSLock()
    private var done = 0
    private var finished = false
    private let start = Date()
    private var lastDraw = Date.distantPast

    init(label: String, total: Int, reporter: ProgressReporter) {
        self.label = label
        self.total = max(0, total)
        self.reporter = reporter
        if reporter.mode == .interactive { reporter.redraw(render(elapsed: 0)) }
    }

    /// Units done so far.
    public var completed: Int { lock.lock(); defer { lock.unlock() }; return done }

    /// Marks `n` more units done.
    public func advance(by n: Int = 1) {
        guard reporter.mode == .interactive else {
            lock.lock(); done = min(total, done + n); lock.unlock()
            return
        }
        lock.lock()
        done = min(total, done + n)
        let now = Date()
        let draw = !finished && (now.timeIntervalSince(lastDraw) >= 0.1 || done == total)
        if draw { lastDraw = now }
        let line = render(elapsed: now.timeIntervalSince(start))
        lock.unlock()
        if draw { reporter.redraw(line) }
    }

    /// Draws the final state and ends the line. Safe to call twice.
    public func finish() {
        lock.lock()
        if finished { lock.unlock(); return }
        finished = true
        let line = render(elapsed: Date().timeIntervalSince(start), final: true)
        lock.unlock()
        reporter.close(line)
    }

    /// The bar text (no escapes), e.g. `label [####......]   4/10  40%  eta 3s`.
    func render(elapsed: TimeInterval, final: Bool = false) -> String {
        let width = 24
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let digits = String(total).count
        let count = String(repeating: " ", count: max(0, digits - String(done).count)) + "\(done)/\(total)"
        var text = "\(label) [\(bar)] \(count) \(String(format: "%3d", Int(fraction * 100)))%"
        if final {
            text += "  \(ProgressBar.duration(elapsed))"
        } else if done > 0, done < total {
            text += "  eta \(ProgressBar.duration(elapsed / Double(done) * Double(total - done)))"
        }
        return text
    }

    static func duration(_ s: TimeInterval) -> String {
        if s < 60 { return String(format: "%.0fs", s) }
        if s < 3600 { return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) }
        return String(format: "%dh%02dm", Int(s) / 3600, (Int(s) % 3600) / 60)
    }
}
