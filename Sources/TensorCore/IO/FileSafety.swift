// FileSafety.swift — the one file-safety rule of the lab: name the real cause of a file that cannot be
// read (from errno), never write over a file that is also an input (compared by file identity, so
// symlinks and `./` spellings count), and lock a directory while one process writes into it.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// File checks shared by every command that reads or writes a path the user named.
///
/// ```swift
/// try FileSafety.requireReadableFile("x.safetensors")              // "cannot read x: too many levels of symbolic links …"
/// try FileSafety.refuseClobbering(output: ("--output", "y.safetensors"), inputs: [("--input", "x.safetensors")])
/// let lock = try DirectoryLock(URL(fileURLWithPath: "runs/tiny"))  // held until `lock` is released
/// ```
public enum FileSafety {
    /// The problem and the fix for an errno of a failed `stat`/`open` on a path to read.
    public static func readProblem(_ code: Int32) -> (problem: String, fix: String) {
        switch code {
        case ENOENT: return ("no such file", "check the path")
        case ELOOP: return ("too many levels of symbolic links (a symlink loop)", "point the path at a real file")
        case ENAMETOOLONG: return ("the path or a name in it is too long", "use a shorter path")
        case ENOTDIR: return ("a parent of this path is a file, not a directory", "check the path")
        case EACCES, EPERM: return ("permission denied", "fix the file's permissions or copy it somewhere readable")
        case EISDIR: return ("this is a directory, not a file", "give the path of a file")
        case EIO: return ("an I/O error from the device", "check the disk, or copy the file elsewhere")
        default: return ("cannot be opened (\(String(cString: strerror(code))))", "check the path")
        }
    }

    /// Throws a `FileError` naming the real cause unless `path` is an existing, readable regular file
    /// (symlinks to one are fine). Devices, FIFOs and sockets are refused (they can block or never end).
    public static func requireReadableFile(_ path: String, what: String = "file") throws {
        var st = stat()
        if stat(path, &st) != 0 {
            let (p, f) = readProblem(errno)
            throw FileError(.read, path: path, problem: p, fix: f)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw FileError(.read, path: path, problem: "this is a directory, not a file", fix: "give the path of a \(what)")
        default: throw FileError(.read, path: path, problem: "this is a device or special file, not a regular file", fix: "give the path of a \(what)")
        }
        if access(path, R_OK) != 0 {
            let (p, f) = readProblem(errno)
            throw FileError(.read, path: path, problem: p, fix: f)
        }
    }

    /// Why an existing-or-not `path` cannot be read, when the cause is *not* that it is missing (a symlink
    /// loop, a name too long, no permission, a device, a directory); nil when it is readable, simply
    /// absent, or under a regular file (the caller's own "missing" message is then right).
    ///
    /// ```swift
    /// if let e = FileSafety.unreadableBeyondMissing("run/config.json") { throw e }
    /// ```
    public static func unreadableBeyondMissing(_ path: String, what: String = "file") -> FileError? {
        do { try requireReadableFile(path, what: what); return nil } catch let e as FileError {
            // Missing, or under a regular file (`--data plain.txt`): the caller's "missing" message fits.
            return e.problem == "no such file" || e.problem.hasPrefix("a parent of this path is a file") ? nil : e
        } catch { return nil }
    }

    /// The size in bytes of the file `path` leads to (symlinks followed), or nil when it cannot be stat'ed.
    public static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// Where `path` leads: an existing file's (device, inode), following symlinks; nil when it does not exist.
    public static func identity(_ path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// The absolute path `path` resolves to: symlinks (also a final one) and `.`/`..` resolved where they
    /// exist; a missing last component is appended to its resolved parent.
    public static func resolved(_ path: String) -> String {
        if let r = realpath(path, nil) { defer { free(r) }; return String(cString: r) }
        // (Split by hand: NSString.deletingLastPathComponent traps on some one-character names on Linux.)
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let slash = trimmed.lastIndex(of: "/")
        let parent = slash.map { trimmed[..<$0].isEmpty ? "/" : String(trimmed[..<$0]) } ?? "."
        let name = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? String(trimmed)
        if let r = realpath(parent, nil) {
            defer { free(r) }
            let base = String(cString: r)
            return base.hasSuffix("/") ? base + name : base + "/" + name
        }
        return path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Whether two paths name the same file: the same (device, inode) when both exist, else the same resolved path.
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        if let x = identity(a), let y = identity(b) { return x == y }
        return resolved(a) == resolved(b)
    }

    /// What a command writes at an output path: one file, or files inside a directory.
    public enum OutputKind: Sendable { case file, directory }

    /// Whether `path` is `dir` or lies inside it (both resolved: symlinks, `.` and `..`).
    public static func isInside(_ path: String, _ dir: String) -> Bool {
        let p = resolved(path), d = resolved(dir)
        return p == d || p.hasPrefix(d.hasSuffix("/") ? d : d + "/")
    }

    /// Whether `path` exists and is a directory (following symlinks).
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The one rule for every command that writes, checked before anything is computed or written:
    /// - a file output with a trailing `/` (a directory meant), or one that is a directory (also through
    ///   a symlink), is refused; a dangling symlink is refused rather than replaced;
    /// - an output is never an input (same file by identity or resolved path, so `./x` and symlinks count),
    ///   never inside an input directory (a checkpoint or run directory being read, a corpus), and a
    ///   directory output never holds an input;
    /// - two outputs never name the same file.
    /// Each entry is (option, path[, kind]); nil paths are skipped.
    ///
    /// ```swift
    /// try FileSafety.checkOutputs([("--output", "y.safetensors", .file)], inputs: [("--checkpoint", "runs/tiny")])
    /// ```
    public static func checkOutputs(_ outputs: [(flag: String, path: String?, kind: OutputKind)], inputs: [(flag: String, path: String?)]) throws {
        let outs = outputs.compactMap { o in o.path.map { (o.flag, $0, o.kind) } }
        let ins = inputs.compactMap { i in i.path.map { (i.flag, $0) } }
        for (oflag, opath, kind) in outs {
            guard !opath.isEmpty else {
                throw FileError(.write, path: opath, problem: "\(oflag) is empty", fix: "give a path")
            }
            var lst = stat()
            if lstat(opath, &lst) == 0 && (lst.st_mode & S_IFMT) == S_IFLNK {
                var st = stat()
                if stat(opath, &st) != 0 {
                    throw FileError(.write, path: opath, problem: "this is a symlink to a missing target (\(String(cString: strerror(errno))))",
                                    fix: "remove the dangling symlink or choose another \(oflag) path")
                }
            }
            if kind == .file {
                if opath.hasSuffix("/") {
                    throw FileError(.write, path: opath, problem: "\(oflag) ends with '/', which names a directory, but it is a file",
                                    fix: "give a file path without the trailing '/' (e.g. \(oflag) out.safetensors)")
                }
                if isDirectory(opath) {
                    throw FileError(.write, path: opath, problem: "\(oflag) is a directory\(lst.st_mode & S_IFMT == S_IFLNK ? " (through a symlink)" : ""), not a file",
                                    fix: "give a file path inside it, e.g. \(opath)/out.safetensors")
                }
            }
        }
        for (k, (oflag, opath, kind)) in outs.enumerated() {
            for (iflag, ipath) in ins where !ipath.isEmpty {
                if sameFile(opath, ipath) {
                    throw FileError(.write, path: opath, problem: "this is the same \(isDirectory(ipath) ? "directory" : "file") as \(iflag) \(ipath); writing \(oflag) would destroy the input",
                                    fix: "choose another \(oflag) path")
                }
                if isDirectory(ipath) && isInside(opath, ipath) {
                    throw FileError(.write, path: opath, problem: "\(oflag) lies inside \(iflag) \(ipath), which this command reads; writing there could destroy the input",
                                    fix: "choose an \(oflag) path outside \(ipath)")
                }
                if kind == .directory && isInside(ipath, opath) {
                    throw FileError(.write, path: opath, problem: "\(oflag) holds \(iflag) \(ipath), which this command reads; writing there could destroy the input",
                                    fix: "choose an \(oflag) directory that does not hold the inputs")
                }
            }
            for (oflag2, opath2, _) in outs[(k + 1)...] where sameFile(opath, opath2) {
                throw FileError(.write, path: opath, problem: "\(oflag) and \(oflag2) name the same file; one would overwrite the other",
                                fix: "give them different paths")
            }
        }
    }

    /// File outputs only: `checkOutputs` with every output a file.
    public static func refuseClobbering(outputs: [(flag: String, path: String?)], inputs: [(flag: String, path: String?)]) throws {
        try checkOutputs(outputs.map { ($0.flag, $0.path, OutputKind.file) }, inputs: inputs)
    }

    /// Convenience for one output.
    public static func refuseClobbering(output: (flag: String, path: String), inputs: [(flag: String, path: String?)]) throws {
        try refuseClobbering(outputs: [(output.flag, output.path)], inputs: inputs)
    }
}

/// An exclusive lock on a directory (`flock` on `<dir>/.lock`, which holds the owner's pid) for as long as
/// this object lives: a second process that asks for it is refused with the holder's pid. The lock is
/// released by the kernel when the process exits, even on `kill -9`, so a stale `.lock` file never blocks.
///
/// ```swift
/// let lock = try DirectoryLock(URL(fileURLWithPath: "runs/tiny"), purpose: "trains")
/// // … write into runs/tiny …
/// _ = lock
/// ```
public final class DirectoryLock: @unchecked Sendable {
    /// The lock file's name inside the directory.
    public static let fileName = ".lock"
    public let url: URL
    private var fd: Int32

    /// Takes the lock or throws `FileError` naming the process that holds it. `dir` must exist.
    public init(_ dir: URL, purpose: String = "writes") throws {
        url = dir.appendingPathComponent(DirectoryLock.fileName)
        fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let (p, f) = FileSafety.readProblem(errno)
            throw FileError(.write, path: url.path, problem: "cannot create the lock file: \(p)", fix: f)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            close(fd); fd = -1
            let pid = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            if code == EWOULDBLOCK || code == EAGAIN {
                throw FileError(.write, path: dir.path, problem: "another lab process (pid \(pid)) \(purpose) in this directory",
                                fix: "wait for it to finish or stop it (kill -INT \(pid)), then try again")
            }
            throw FileError(.write, path: url.path, problem: "cannot lock it (\(String(cString: strerror(code))))", fix: "check the file system")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Releases the lock now (also done on deinit and at process exit).
    public func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }

    deinit { release() }
}
