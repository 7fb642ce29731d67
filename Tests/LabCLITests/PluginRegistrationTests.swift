// PluginRegistrationTests.swift — a plugin is registered in two files that must agree: Package.swift's
// `innerModelPlugins` line and Zoo's list, Sources/Zoo/InnerModelList.swift (`lab plugin new/remove`).
import Foundation
import XCTest
import Zoo

final class PluginRegistrationTests: XCTestCase {
    /// The package root (this file is Tests/LabCLITests/PluginRegistrationTests.swift).
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The folders under Plugins/, Package.swift's line and the registry (built from Zoo's list) name the
    /// same plugins: a folder left out of either file, or a type left out of the list, fails here.
    func testPluginsPackageLineAndListAgree() throws {
        let fm = FileManager.default
        let folders = try fm.contentsOfDirectory(atPath: root.appendingPathComponent("Plugins").path).filter { f in
            var isDir: ObjCBool = false
            return !f.hasPrefix(".") && fm.fileExists(atPath: root.appendingPathComponent("Plugins/\(f)").path, isDirectory: &isDir) && isDir.boolValue
        }
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let prefix = "let innerModelPlugins: [String] = ["
        let line = try XCTUnwrap(manifest.split(separator: "\n").first { $0.hasPrefix(prefix) })
        let listed = line.dropFirst(prefix.count).dropLast().split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
        let registered = InnerModelRegistry.names.compactMap { InnerModelRegistry.folder(of: $0) }
        XCTAssertEqual(Set(folders), Set(listed), "Plugins/ vs Package.swift's innerModelPlugins")
        XCTAssertEqual(Set(registered), Set(listed), "Sources/Zoo/InnerModelList.swift vs Package.swift's innerModelPlugins")
        XCTAssertEqual(registered.count, listed.count, "one type per plugin folder")
        XCTAssertEqual(InnerModelRegistry.folder(of: "mlp"), "TTTMLP")
        XCTAssertEqual(Array(InnerModelRegistry.names.prefix(2)), ["linear", "mlp"], "the paper's plugins first")
    }

    /// `plugin new` then `plugin remove` on copies of the real Package.swift and list leaves both byte for
    /// byte as they were; with the list missing, `plugin new` is one line, status 2, and writes nothing.
    func testNewThenRemoveRestoresBothFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = ["Package.swift", "Sources/Zoo/InnerModelList.swift"]
        for f in files {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(f).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: root.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let before = try files.map { try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8) }
        let made = try lab(["plugin", "new", "Scratch", "--root", dir.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let list = try String(contentsOf: dir.appendingPathComponent(files[1]), encoding: .utf8)
        XCTAssertTrue(list.contains("\nimport Scratch\n") && list.contains("\n    Scratch.ScratchInner.self,\n"), list)
        let removed = try lab(["plugin", "remove", "Scratch", "--root", dir.path])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(try files.map { try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8) }, before)

        try FileManager.default.removeItem(at: dir.appendingPathComponent(files[1]))
        let r = try lab(["plugin", "new", "Scratch", "--root", dir.path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("InnerModelList.swift") && r.stderr.split(separator: "\n").count == 1, r.stderr)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent(files[0]), encoding: .utf8), before[0])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("Plugins/Scratch").path))
    }
}
