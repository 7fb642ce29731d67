// AtomicFile.swift — all-or-nothing file output (temp file in the same directory + fsync + rename),
// and `FileError`, the one-line error of every file read or write in the lab.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file read or write, as one line: the operation, the path, the problem and the fix.
///
/// ```swift
/// do { try AtomicFile.write("a,b\n", to: url) }
/// catch let e as FileError { print(e) }   // "cannot write results/x.csv: directory is read-only — choose another output path"
/// ```
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Operation: String, Sendable { case read, write }
    /// Whether reading or writing failed.
    public var operation: Operation
    /// The file the operation was about.
    public var path: String
    /// What is wrong, e.g. "header length 4096 is past the end of the file (100 bytes)".
    public var problem: String
    /// What to do about it, e.g. "choose another output path".
    public var fix: String

    public init(_ operation: Operation, path: String, problem: String, fix: String) {
        self.operation = operation; self.path = path; self.problem = problem; self.fix = fix
    }

    public var description: String { "cannot \(operation.rawValue) \(path): \(problem) — \(fix)" }
}

/// Writes files all at once or not at all.
///
/// The bytes go to a uniquely named temp file in the target's directory, are flushed to disk
/// (`fsync`), and the temp file is then renamed over the target. A reader sees either the old file
/// or the complete new one, never a half-written file. Missing parent directories are created. On
/// any failure the temp file is removed and a `FileError` is thrown; the target is left as it was.
///
/// ```swift
/// try AtomicFile.write("step,loss\n0,2.3\n", to: URL(fileURLWithPath: "results/run1/loss.csv"))
/// try AtomicFile.write(Data([1, 2, 3]), to: URL(fileURLWithPath: "out/blob.bin"))
/// ```
public enum AtomicFile {
    /// Atomically replaces (or creates) the file at `url` with `data`.
    public static func write(_ data: Data, to url: URL) throws {
        // A final symlink is written through: its target is replaced and the link stays. A link to a
        // device, FIFO or socket (`/dev/stdout` → /proc/self/fd/1, a link to /dev/null) is refused, so a
        // rename never replaces a device node or the link itself; a loop is named.
        var target = url
        var lst = stat()
        if lstat(url.path, &lst) == 0, (lst.st_mode & S_IFMT) == S_IFLNK {
            var st = stat()
            if stat(url.path, &st) == 0 {
                let kind = st.st_mode & S_IFMT
                guard kind == S_IFREG || kind == S_IFDIR else {
                    throw FileError(.write, path: url.path, problem: "this is a symlink to a device or special file, not a regular file", fix: "give the path of a regular file")
                }
                if kind == S_IFREG, let r = realpath(url.path, nil) { target = URL(fileURLWithPath: String(cString: r)); free(r) }
            } else if errno == ELOOP {
                throw error(ELOOP, path: url.path, step: "resolve the symlink")
            }
        }
        let path = target.path
        let dir = target.deletingLastPathComponent().path
        let base = target.lastPathComponent
        guard !base.isEmpty, base != "/", base != ".", base != ".." else {
            throw FileError(.write, path: path, problem: "the path names a directory, not a file", fix: "give a file name")
        }
        try makeDirectory(dir, for: path)
        // Never rename over a device, pipe or socket (as root, `--output /dev/null` would replace /dev/null).
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG, (st.st_mode & S_IFMT) != S_IFDIR, (st.st_mode & S_IFMT) != S_IFLNK {
            throw FileError(.write, path: path, problem: "this is a device or special file, not a regular file", fix: "give the path of a regular file")
        }

        // (A directory at the target is caught by the rename below, EISDIR, after the temp file exists,
        // so that the clean-up path is the one the tests exercise.)

        // Leftovers of this name from a killed process (SIGKILL skips the clean-up below) go first.
        StaleTemporaries.removeLeftovers(of: base, in: dir)
        // Unique temp name in the same directory (so that rename stays on one file system).
        var fd: Int32 = -1
        var tmp = ""
        for _ in 0..<16 {
            tmp = (dir as NSString).appendingPathComponent(".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw error(errno, path: path, step: "create a temp file in \(dir)") }

        var failure: FileError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = error(errno, path: path, step: "write"); return
                }
                done += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = error(errno, path: path, step: "flush to disk") }
        if close(fd) != 0, failure == nil { failure = error(errno, path: path, step: "close") }
        if failure == nil, rename(tmp, path) != 0 { failure = error(errno, path: path, step: "rename the temp file over the target") }
        if let failure {
            unlink(tmp)
            throw failure
        }
        // Make the rename itself durable (best effort: some file systems refuse fsync on directories).
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Atomically replaces (or creates) the file at `url` with the UTF-8 bytes of `string`.
    public static func write(_ string: String, to url: URL) throws {
        try write(Data(string.utf8), to: url)
    }

    // MARK: helpers

    private static func makeDirectory(_ dir: String, for path: String) throws {
        var st = stat()
        if stat(dir, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            let what = (st.st_mode & S_IFMT) == S_IFREG ? "a file" : "a device or special file"
            throw FileError(.write, path: path, problem: "\(dir) is \(what), not a directory",
                            fix: "remove or rename that file, or choose another output path")
        }
        try createDirectories(dir, for: path)
    }

    /// `mkdir -p` that names the real cause from errno (a parent that is a file, a symlink loop, a
    /// name too long, a read-only file system, no permission) instead of one generic message.
    public static func createDirectories(_ dir: String, for path: String) throws {
        var prefix = dir.hasPrefix("/") ? "/" : ""
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            if mkdir(prefix, 0o755) == 0 { continue }
            let code = errno
            var st = stat()
            if code == EEXIST, stat(prefix, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR { continue }
                let what = (st.st_mode & S_IFMT) == S_IFREG ? "a file" : "a device or special file"
                throw FileError(.write, path: path, problem: "\(prefix) is \(what), not a directory",
                                fix: "remove or rename that file, or choose another output path")
            }
            if code == EEXIST {   // EEXIST without a stat: a dangling or looping symlink
                throw FileError(.write, path: path, problem: "\(prefix) is a broken symlink or a symlink loop", fix: "fix or remove the symlink, or choose another output path")
            }
            throw error(code, path: path, step: "cannot create directory \(prefix)")
        }
    }

    private static func error(_ code: Int32, path: String, step: String) -> FileError {
        switch code {
        case EACCES, EPERM:
            return FileError(.write, path: path, problem: "permission denied (\(step))", fix: "choose another output path or fix the permissions")
        case EROFS:
            return FileError(.write, path: path, problem: "the file system is read-only (\(step))", fix: "choose another output path")
        case ENOSPC, EDQUOT:
            return FileError(.write, path: path, problem: "no space left on the device (\(step))", fix: "free some space or choose another output path")
        case ENOTDIR:
            return FileError(.write, path: path, problem: "a parent of this path is a file, not a directory", fix: "choose another output path")
        case EISDIR:
            return FileError(.write, path: path, problem: "a directory already exists at this path", fix: "remove it or choose another output path")
        case EFBIG:
            return FileError(.write, path: path, problem: "the file is larger than the file-size limit (\(step))", fix: "raise the limit (ulimit -f) or choose another output path")
        case ENAMETOOLONG:
            return FileError(.write, path: path, problem: "the file name is too long", fix: "choose a shorter output path")
        case ELOOP:
            return FileError(.write, path: path, problem: "too many levels of symbolic links (\(step))", fix: "fix the symlink or choose another output path")
        default:
            return FileError(.write, path: path, problem: "\(step) failed: \(String(cString: strerror(code)))", fix: "check the output path")
        }
    }
}
