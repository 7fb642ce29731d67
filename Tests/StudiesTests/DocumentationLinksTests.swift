// DocumentationLinksTests.swift — the repository stands alone: every relative link of its Markdown (README,
// Plugins/, docs/, each study's README) and every repository path it names in code spans exists, and no file
// points outside the repository at `../shared`. A synthetic document with a broken link is the negative control.
import Foundation
import XCTest

final class DocumentationLinksTests: XCTestCase {
    /// The package root (this file is Tests/StudiesTests/DocumentationLinksTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The Markdown a reader of the repository follows: README.md, Plugins/README.md and each plugin's,
    /// docs/*.md, Studies/*/README.md.
    static func documents() throws -> [URL] {
        let fm = FileManager.default
        var docs = [root.appendingPathComponent("README.md"), root.appendingPathComponent("Plugins/README.md")]
        for (dir, pick) in [("docs", { (name: String) in name.hasSuffix(".md") ? name : nil }),
                            ("Studies", { (name: String) in "\(name)/README.md" }),
                            ("Plugins", { (name: String) in "\(name)/README.md" })] {
            let base = root.appendingPathComponent(dir)
            for name in try fm.contentsOfDirectory(atPath: base.path).sorted() {
                guard let rel = pick(name) else { continue }
                let url = base.appendingPathComponent(rel)
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue { docs.append(url) }
            }
        }
        return docs
    }

    /// Problems of one Markdown text whose file lies in `directory`: a relative link `[x](path)` / `![x](path)`
    /// to nothing, a code span naming a repository path (`Sources/…`, `Studies/…`, `Plugins/…`, `Tests/…`,
    /// `scripts/…`, `docs/…`, `report/…`) that does not exist, and any mention of `../shared`.
    ///
    ///     brokenLinks(in: "see [x](nope.md)", directory: root, root: root)   // ["link nope.md: no such path"]
    static func brokenLinks(in text: String, directory: URL, root: URL) -> [String] {
        var problems: [String] = []
        let fm = FileManager.default
        func exists(_ path: String, from base: URL) -> Bool {
            fm.fileExists(atPath: base.appendingPathComponent(path).standardizedFileURL.path)
        }
        if text.contains("../shared") { problems.append("mentions ../shared, which a clone of the repository does not have") }
        // [text](target) and ![alt](target); the target ends at whitespace (a title may follow) or ')'.
        let link = try! NSRegularExpression(pattern: #"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#)
        let ns = text as NSString
        for m in link.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            var target = ns.substring(with: m.range(at: 1))
            if target.contains("://") || target.hasPrefix("mailto:") || target.hasPrefix("#") { continue }
            if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
            target = target.removingPercentEncoding ?? target
            if !exists(target, from: directory) { problems.append("link \(target): no such path") }
        }
        // `Sources/Layers/TTT/TTTLayer.swift`-style code spans: paths from the package root, no placeholders.
        let span = try! NSRegularExpression(pattern: #"`((?:Sources|Studies|Plugins|Tests|scripts|docs|report)/[^`\s]*)`"#)
        for m in span.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let path = ns.substring(with: m.range(at: 1))
            if path.contains(where: { "<>*{}…$".contains($0) }) { continue }
            if !exists(path, from: root) { problems.append("path `\(path)`: no such file or folder") }
        }
        return problems
    }

    func testEveryRelativeLinkAndNamedPathExists() throws {
        let docs = try Self.documents()
        XCTAssertGreaterThanOrEqual(docs.count, 12, "README, Plugins, docs and every study's README are checked")
        var problems: [String] = []
        for url in docs {
            let text = try String(contentsOf: url, encoding: .utf8)
            let rel = String(url.path.dropFirst(Self.root.path.count + 1))
            problems += Self.brokenLinks(in: text, directory: url.deletingLastPathComponent(), root: Self.root)
                .map { "\(rel): \($0)" }
        }
        XCTAssertEqual(problems, [], problems.joined(separator: "\n"))
    }

    /// The check can fail, by the faults it names: a link to a missing file, a stale code-span path and a
    /// `../shared` mention are each reported; the same text with the link, the path fixed is clean.
    func testNegativeControlBrokenLinkIsDetected() {
        let dir = Self.root.appendingPathComponent("docs")
        let good = "The math: [ttt.md](ttt.md#1-the-ttt-layer), the code `Sources/Layers/TTT/TTTLayer.swift`."
        XCTAssertEqual(Self.brokenLinks(in: good, directory: dir, root: Self.root), [])
        let broken = "The math: [spec](ttt-spec.md#1-the-ttt-layer), the code `Sources/Layers/Fast/TTTFast.swift`."
        XCTAssertEqual(Self.brokenLinks(in: broken, directory: dir, root: Self.root),
                       ["link ttt-spec.md: no such path", "path `Sources/Layers/Fast/TTTFast.swift`: no such file or folder"])
        let outside = "See `../shared/docs/ttt-spec.md` §1."
        XCTAssertEqual(Self.brokenLinks(in: outside, directory: dir, root: Self.root),
                       ["mentions ../shared, which a clone of the repository does not have"])
    }
}
