// Gnuplot.swift — find the gnuplot executable and run it on a chart's script, with a time limit.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A located gnuplot executable.
///
/// ``locate(searchPath:)`` looks through `PATH`; when gnuplot is missing it throws
/// ``StudyKitError/gnuplotNotFound(_:)`` whose message says how to install it. ``render(_:in:timeout:)``
/// writes a chart's `.dat` and `.gp` and renders `.png` and `.svg`, each file atomically (gnuplot
/// draws into temporary files that are renamed into place only when it succeeds).
///
/// ```swift
/// let gnuplot = try Gnuplot.locate()
/// let files = try gnuplot.render(chart, in: URL(fileURLWithPath: "results/equivalence"))
/// files.png   // …/error-vs-length.png
/// ```
public struct Gnuplot: Sendable {
    /// The one-line install hint used in "not found" errors.
    public static var installHint: String {
        #if os(macOS)
        return "install it with: brew install gnuplot"
        #else
        return "install it with: apt-get install -y gnuplot-nox"
        #endif
    }

    public let executable: URL

    /// Uses the executable at `path`; throws ``StudyKitError/gnuplotNotFound(_:)`` if it is not an
    /// executable file.
    public init(executable path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw StudyKitError.gnuplotNotFound("gnuplot not found at \(path) — \(Gnuplot.installHint), or fix the path")
        }
        executable = URL(fileURLWithPath: path)
    }

    /// Finds `gnuplot` in the directories of `searchPath` (default: the `PATH` environment variable).
    public static func locate(searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) throws -> Gnuplot {
        for dir in (searchPath ?? "").split(separator: ":") where !dir.isEmpty {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("gnuplot").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return try Gnuplot(executable: candidate) }
        }
        throw StudyKitError.gnuplotNotFound("gnuplot not found — \(installHint)")
    }

    /// Paths written by ``render(_:in:timeout:)``.
    public struct RenderedFiles: Sendable, Equatable {
        public var data: URL
        public var script: URL
        public var png: URL
        public var svg: URL
        /// gnuplot's stderr when it succeeded anyway (warnings), trimmed; empty if none.
        public var warnings: String
    }

    /// Writes `<chart.name>.dat` and `.gp` into `dir`, then runs gnuplot there to produce `.png` and
    /// `.svg`. All four are written atomically; on failure no partial image is left behind.
    @discardableResult
    public func render(_ chart: Chart, in dir: URL, timeout: TimeInterval = 60) throws -> RenderedFiles {
        try chart.validate()
        try AtomicOutput.ensureDirectory(dir)
        let files = Gnuplot.writeSources(chart)
        try AtomicOutput.write(files.data, to: dir.appendingPathComponent("\(chart.name).dat"))
        try AtomicOutput.write(files.script, to: dir.appendingPathComponent("\(chart.name).gp"))
        return try renderImages(chart, in: dir, timeout: timeout)
    }

    /// The text of the `.dat` and `.gp` files for `chart`.
    static func writeSources(_ chart: Chart) -> (data: String, script: String) {
        (chart.gnuplotData(), chart.gnuplotScript(dataFile: "\(chart.name).dat"))
    }

    /// Runs the already-written `<name>.gp` in `dir`, rendering to temporary files then renaming.
    func renderImages(_ chart: Chart, in dir: URL, timeout: TimeInterval) throws -> RenderedFiles {
        let png = dir.appendingPathComponent("\(chart.name).png")
        let svg = dir.appendingPathComponent("\(chart.name).svg")
        let tmpPNG = AtomicOutput.temporaryURL(for: png)
        let tmpSVG = AtomicOutput.temporaryURL(for: svg)
        defer {
            try? FileManager.default.removeItem(at: tmpPNG)
            try? FileManager.default.removeItem(at: tmpSVG)
        }
        let vars = "pngfile=\(Chart.quote(tmpPNG.lastPathComponent)); svgfile=\(Chart.quote(tmpSVG.lastPathComponent))"
        let stderr = try run(arguments: ["-e", vars, "\(chart.name).gp"], in: dir, timeout: timeout)
        for tmp in [tmpPNG, tmpSVG] {
            let size = (try? FileManager.default.attributesOfItem(atPath: tmp.path)[.size] as? Int) ?? nil
            if (size ?? 0) == 0 {
                throw StudyKitError.gnuplotFailed("gnuplot produced no \(tmp.pathExtension.isEmpty ? "image" : "file") for chart '\(chart.name)'\(Gnuplot.firstLine(stderr).map { ": \($0)" } ?? "") — run 'gnuplot \(chart.name).gp' in \(dir.path) to see why")
            }
        }
        try AtomicOutput.commit(tmpPNG, to: png)
        try AtomicOutput.commit(tmpSVG, to: svg)
        return RenderedFiles(data: dir.appendingPathComponent("\(chart.name).dat"),
                             script: dir.appendingPathComponent("\(chart.name).gp"),
                             png: png, svg: svg, warnings: stderr.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Runs gnuplot with `arguments` in `dir`; returns its stderr. Throws on a non-zero exit status
    /// (message: gnuplot's first error line) or when it runs past `timeout` seconds (it is killed).
    public func run(arguments: [String], in dir: URL, timeout: TimeInterval = 60) throws -> String {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env["GNUTERM"] = nil
        env["DISPLAY"] = nil
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errPipe = Pipe()
        process.standardError = errPipe

        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        // Drain stderr concurrently so a chatty gnuplot can never block on a full pipe.
        let collected = ErrorBuffer()
        let reader = DispatchGroup()
        reader.enter()
        DispatchQueue.global().async {
            collected.data = errPipe.fileHandleForReading.readDataToEndOfFile()
            reader.leave()
        }
        do {
            try process.run()
        } catch {
            try? errPipe.fileHandleForWriting.close()
            reader.wait()
            throw StudyKitError.gnuplotNotFound("could not start gnuplot at \(executable.path): \(error.localizedDescription) — \(Gnuplot.installHint)")
        }
        try? errPipe.fileHandleForWriting.close()
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if done.wait(timeout: .now() + 2) == .timedOut { kill(process.processIdentifier, SIGKILL); done.wait() }
            reader.wait()
            throw StudyKitError.gnuplotTimedOut("gnuplot ran longer than \(Int(timeout)) s and was stopped — simplify the chart or raise the time limit")
        }
        reader.wait()
        let stderr = String(decoding: collected.data, as: UTF8.self)
        if process.terminationReason != .exit || process.terminationStatus != 0 {
            let why = Gnuplot.firstLine(stderr).map { ": \($0)" } ?? ""
            throw StudyKitError.gnuplotFailed("gnuplot failed (status \(process.terminationStatus))\(why) — run it by hand on the .gp script in \(dir.path) to see the full message")
        }
        return stderr
    }

    /// The most informative single line of gnuplot's stderr (the first line mentioning an error,
    /// else the last non-empty line), whitespace-collapsed.
    static func firstLine(_ stderr: String) -> String? {
        let lines = stderr.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.allSatisfy { $0 == "^" } }
        guard !lines.isEmpty else { return nil }
        return lines.first { $0.range(of: "error", options: .caseInsensitive) != nil } ?? lines.last
    }
}

/// Holds the stderr bytes read on a background queue (read before `reader.wait()` returns).
private final class ErrorBuffer: @unchecked Sendable {
    var data = Data()
}
