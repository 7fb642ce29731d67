// PluginRegistration.swift — the two places a plugin is registered, read and edited together by
// `lab plugin new` and `lab plugin remove`: its folder in Package.swift's `innerModelPlugins` line (the
// target) and its import and type in Zoo's list, Sources/Zoo/InnerModelList.swift.
import Foundation
import Layers
import TensorCore

/// A package's plugin registration: Package.swift's line and Zoo's list, edited as one (the second edit
/// failing undoes the first), under ``lock(root:)``.
///
/// ```swift
/// let lock = try PluginRegistration.lock(root: root); defer { lock.release() }
/// try PluginRegistration(root: root).add("MyModel", type: "MyModelInner")
/// ```
struct PluginRegistration {
    let package: PackageLine
    let list: InnerModelListFile

    init(root: URL) throws {
        package = try PackageLine(root: root)
        list = try InnerModelListFile(root: root)
    }

    /// The plugin folders Package.swift lists.
    var names: [String] { package.names }

    /// Registers the plugin in folder (module) `name` whose type is `type`.
    func add(_ name: String, type: String) throws {
        try package.write(package.names + [name], expecting: name, present: true)
        do { try list.write(module: name, type: type) } catch { try? package.restore(); throw error }
    }

    /// Unregisters the plugin in folder `name` (every entry of its module).
    func remove(_ name: String) throws {
        try package.write(package.names.filter { $0 != name }, expecting: name, present: false)
        do { try list.write(module: name, type: nil) } catch { try? package.restore(); throw error }
    }

    /// The lock that serializes registration edits: `flock` on the `Plugins/` directory itself (no lock
    /// file is left in the package), waited for up to 30 s; released by `release()` or at exit.
    static func lock(root: URL) throws -> RegistrationLock {
        let plugins = root.appendingPathComponent("Plugins")
        try? FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        return try RegistrationLock(plugins)
    }
}

/// The one line of Package.swift that lists the plugin folders: `let innerModelPlugins: [String] = [...]`.
struct PackageLine {
    let url: URL
    let lines: [String]
    let index: Int
    let names: [String]
    static let prefix = "let innerModelPlugins: [String] = ["

    init(root: URL) throws {
        url = root.appendingPathComponent("Package.swift")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw LabError.missing("no Package.swift in '\(root.path)': run 'lab plugin' from the TTT Lab package root or pass --root")
        }
        lines = text.components(separatedBy: "\n")
        guard let i = lines.firstIndex(where: { $0.hasPrefix(PackageLine.prefix) }), lines[i].hasSuffix("]") else {
            throw LabError.badFile(path: url.path, problem: "no line '\(PackageLine.prefix)…]' listing the plugin folders — restore it from git")
        }
        index = i
        names = lines[i].dropFirst(PackageLine.prefix.count).dropLast().split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            .filter { !$0.isEmpty }
    }

    /// Rewrites the line with `names` (sorted, unique), atomically, then reads it back: `expecting` must
    /// be listed (`present`) or not, and every other name kept — else the edit was lost and this throws.
    func write(_ names: [String], expecting: String, present: Bool) throws {
        var l = lines
        l[index] = PackageLine.prefix + Set(names).sorted().map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        try AtomicFile.write(l.joined(separator: "\n"), to: url)
        let back = try PackageLine(root: url.deletingLastPathComponent())
        guard Set(back.names) == Set(names), back.names.contains(expecting) == present else {
            throw LabError.failed("\(url.path): the innerModelPlugins line did not read back as written (another process edited it?) — check the line and run the command again")
        }
    }

    /// Puts the file back as it was read (a registration whose second edit failed is undone).
    func restore() throws { try AtomicFile.write(lines.joined(separator: "\n"), to: url) }
}

/// Zoo's list of plugins, `Sources/Zoo/InnerModelList.swift`: one `import <Module>` and one entry
/// `    <Module>.<Type>.self,` per plugin, the entries between `let innerModelList: [InnerModel.Type] = [`
/// and a line `]`. Edits keep every other line and sort the imports and the entries.
struct InnerModelListFile {
    static let path = "Sources/Zoo/InnerModelList.swift"
    static let start = "let innerModelList: [InnerModel.Type] = ["
    let root: URL
    let url: URL
    let lines: [String]
    /// Index of ``start`` and of the closing `]`.
    let begin: Int, end: Int
    /// The module (plugin folder) of each entry.
    let modules: [String]

    init(root: URL) throws {
        self.root = root
        url = root.appendingPathComponent(InnerModelListFile.path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw LabError.missing("no \(InnerModelListFile.path) in '\(root.path)' (Zoo's list of plugins): run 'lab plugin' from the TTT Lab package root or pass --root")
        }
        lines = text.components(separatedBy: "\n")
        guard let b = lines.firstIndex(of: InnerModelListFile.start), let e = lines[b...].firstIndex(of: "]") else {
            throw LabError.badFile(path: url.path, problem: "no list '\(InnerModelListFile.start) … ]' of plugin types — restore it from git")
        }
        begin = b; end = e
        let path = url.path
        modules = try lines[(b + 1)..<e].enumerated().map { i, line in
            let body = line.trimmingCharacters(in: .whitespaces)
            let parts = body.split(separator: ".")
            guard line.hasPrefix("    "), body.hasSuffix(".self,"), parts.count == 3 else {
                throw LabError.badFile(path: path, problem: "line \(b + i + 2) is not an entry '    Module.Type.self,' — restore it from git")
            }
            return String(parts[0])
        }
    }

    /// Rewrites the file with `module`'s import and entry (`type`), or without them (`type` nil),
    /// atomically, then reads it back.
    func write(module: String, type: String?) throws {
        var imports = Set(lines.filter { $0.hasPrefix("import ") })
        var entries = lines[(begin + 1)..<end].filter { !$0.hasPrefix("    \(module).") }
        imports.remove("import \(module)")
        if let type {
            imports.insert("import \(module)")
            entries.append("    \(module).\(type).self,")
        }
        var out: [String] = [], importsPlaced = false
        for (i, line) in lines.enumerated() where !((begin + 1)..<end).contains(i) {
            if line.hasPrefix("import ") {
                if !importsPlaced { out += imports.sorted(); importsPlaced = true }
                continue
            }
            out.append(line)
            if i == begin { out += entries.sorted() }
        }
        try AtomicFile.write(out.joined(separator: "\n"), to: url)
        let back = try InnerModelListFile(root: root)
        guard back.modules.contains(module) == (type != nil) else {
            throw LabError.failed("\(url.path): the plugin list did not read back as written (another process edited it?) — check the list and run the command again")
        }
    }
}

/// An exclusive `flock` on a directory's own descriptor, waited for (one plugin edit at a time).
final class RegistrationLock {
    private var fd: Int32
    init(_ dir: URL, waitSeconds: Double = 30) throws {
        fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LabError.badFile(path: dir.path, problem: "cannot open the plugin folder (\(String(cString: strerror(errno)))) — check the package root")
        }
        let deadline = Date().addingTimeInterval(waitSeconds)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EAGAIN, Date() < deadline else {
                close(fd); fd = -1
                throw LabError.failed("\(dir.path): another 'lab plugin' edit held the registration lock for 30 s — wait for it to finish, then try again")
            }
            usleep(20_000)
        }
    }
    func release() { if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 } }
    deinit { release() }
}

