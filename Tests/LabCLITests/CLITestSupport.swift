// CLITestSupport.swift — runs the built `lab` executable and captures its output and exit status.
import Foundation
import TestSupport
import XCTest

struct LabRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The `lab` binary next to the test bundle (SwiftPM builds it with the tests).
func labExecutable() throws -> URL {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("lab")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    throw NSError(domain: "LabCLITests", code: 1, userInfo: [NSLocalizedDescriptionKey: "lab executable not found near \(CommandLine.arguments[0])"])
}

@discardableResult
func lab(_ args: [String], cwd: URL? = nil, env: [String: String] = [:]) throws -> LabRun {
    let p = Process()
    p.executableURL = try labExecutable()
    p.arguments = args
    if let cwd { p.currentDirectoryURL = cwd }
    var e = ProcessInfo.processInfo.environment
    e["CI"] = "true"
    for (k, v) in env { e[k] = v }
    p.environment = e
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), r = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return LabRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: r, as: UTF8.self))
}

func temporaryDirectory() throws -> URL { try makeTemporaryDirectory("lab-cli") }

/// Writes Zoo's plugin list, `Sources/Zoo/InnerModelList.swift`, under `root` with one import and one
/// entry `Module.ModuleInner.self` per module: with Package.swift's line, the package `lab plugin new`
/// and `lab plugin remove` edit.
func writeInnerModelList(_ root: URL, modules: [String]) throws {
    let url = root.appendingPathComponent("Sources/Zoo/InnerModelList.swift")
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    let text = (["import Layers"] + modules.map { "import \($0)" }).sorted().joined(separator: "\n")
        + "\n\nlet innerModelList: [InnerModel.Type] = [\n" + modules.sorted().map { "    \($0).\($0)Inner.self,\n" }.joined() + "]\n"
    try text.write(to: url, atomically: true, encoding: .utf8)
}
