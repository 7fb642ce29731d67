// CLITestSupport.swift — runs the built `lab` executable and captures its output and exit status.
import Foundation
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

func temporaryDirectory() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("lab-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}
