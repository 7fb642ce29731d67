// PluginCommandTests.swift — `lab plugin new` and `lab plugin check` from the command line.
import Foundation
import XCTest

final class PluginCommandTests: XCTestCase {
    let packageFile = "// package\nlet innerModelPlugins: [String] = [\"TTTLinear\"]\nlet x = 1\n"

    func testCheckPrintsTheTableAndPasses() throws {
        let r = try lab(["plugin", "check", "ttt-deltanet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for s in ["inner gradient = finite differences", "dual form ≡ primal form", "decode ≡ prefill", "outer gradients", "PASS", "all checks pass"] {
            XCTAssertTrue(r.stdout.contains(s), s)
        }
        let nw = try lab(["plugin", "check", "nadaraya-watson"])
        XCTAssertEqual(nw.status, 0, nw.stderr)
        XCTAssertTrue(nw.stdout.contains("n/a"))
    }

    func testBadInputIsOneLineAndStatus2() throws {
        let unknown = try lab(["plugin", "check", "linaer"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("Did you mean 'linear'"), unknown.stderr)
        XCTAssertEqual(unknown.stderr.split(separator: "\n").count, 1)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, msg) in [("my_model", "UpperCamelCase"), ("Linear", "already registered"), ("Layers", "already has")] {
            try packageFile.write(to: dir.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
            try writeInnerModelList(dir, modules: ["TTTLinear"])
            let r = try lab(["plugin", "new", name, "--root", dir.path])
            XCTAssertEqual(r.status, 2, name)
            XCTAssertTrue(r.stderr.contains(msg), r.stderr)
        }
        let noPackage = try lab(["plugin", "new", "Fine", "--root", dir.appendingPathComponent("nowhere").path])
        XCTAssertEqual(noPackage.status, 2)
        XCTAssertTrue(noPackage.stderr.contains("Package.swift"), noPackage.stderr)
    }

    func testNewWritesTheTemplate() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try packageFile.write(to: dir.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try writeInnerModelList(dir, modules: ["TTTLinear"])
        let listURL = dir.appendingPathComponent("Sources/Zoo/InnerModelList.swift")
        let listBefore = try String(contentsOf: listURL, encoding: .utf8)
        let r = try lab(["plugin", "new", "GatedMLP", "--root", dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let p = dir.appendingPathComponent("Plugins/GatedMLP")
        let model = try String(contentsOf: p.appendingPathComponent("GatedMLPInner.swift"), encoding: .utf8)
        XCTAssertTrue(model.contains("public enum GatedMLPInner: InnerModel"))
        XCTAssertTrue(model.contains("static let name = \"gated-mlp\""))
        XCTAssertTrue(FileManager.default.fileExists(atPath: p.appendingPathComponent("Tests/GatedMLPTests.swift").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: p.appendingPathComponent("README.md").path))
        let manifest = { try String(contentsOf: dir.appendingPathComponent("Package.swift"), encoding: .utf8) }
        XCTAssertEqual(try manifest(), "// package\nlet innerModelPlugins: [String] = [\"GatedMLP\", \"TTTLinear\"]\nlet x = 1\n")
        XCTAssertEqual(try String(contentsOf: listURL, encoding: .utf8),
                       "import GatedMLP\nimport Layers\nimport TTTLinear\n\nlet innerModelList: [InnerModel.Type] = [\n    GatedMLP.GatedMLPInner.self,\n    TTTLinear.TTTLinearInner.self,\n]\n")
        let again = try lab(["plugin", "new", "GatedMLP", "--root", dir.path])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        let rm = try lab(["plugin", "remove", "GatedMLP", "--root", dir.path])
        XCTAssertEqual(rm.status, 0, rm.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p.path))
        XCTAssertEqual(try manifest(), packageFile)
        XCTAssertEqual(try String(contentsOf: listURL, encoding: .utf8), listBefore)
        XCTAssertEqual(try lab(["plugin", "remove", "GatedMLP", "--root", dir.path]).status, 2)
    }
}
