// Output.swift — atomic file writes for study outputs: a reader never sees a half-written file.
//
// Internal to StudyKit; TensorCore will get a shared `AtomicFile` later and this can forward to it.

import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files by writing a temporary sibling (same directory, so same file system) and renaming it
/// into place. `rename(2)` replaces the target atomically: readers see the old file or the new one.
///
/// ```swift
/// try AtomicOutput.write("hello\n", to: dir.appendingPathComponent("greeting.txt"))
/// ```
enum AtomicOutput {
    /// A fresh temporary path next to `url`, hidden and marked `.tmp-` so leftovers are recognisable.
    static func temporaryURL(for url: URL) -> URL {
        let dir = url.deletingLastPathComponent()
        let token = UInt64.random(in: 0 ..< UInt64.max)
        let name = ".\(url.lastPathComponent).tmp-\(getpid())-\(String(token, radix: 36))"
        return dir.appendingPathComponent(name)
    }

    /// Atomically replaces `url` with `data`.
    static func write(_ data: Data, to url: URL) throws {
        StaleTemporaries.removeLeftovers(of: url.lastPathComponent, in: url.deletingLastPathComponent().path)
        let tmp = temporaryURL(for: url)
        do {
            // AtomicFile names the errno (a full disk, a file-size limit) and removes its temp file.
            do { try AtomicFile.write(data, to: tmp) } catch let e as FileError {
                throw StudyKitError.io("could not write \(url.path): \(e.problem) — \(e.fix)")
            }
            try commit(tmp, to: url)
        } catch let error as StudyKitError {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw StudyKitError.io("could not write \(url.path): \(error.localizedDescription) — check the output directory is writable")
        }
    }

    /// Atomically replaces `url` with the UTF-8 bytes of `text`.
    static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Renames a finished temporary file onto its final path (atomic replace).
    static func commit(_ tmp: URL, to url: URL) throws {
        if rename(tmp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            throw StudyKitError.io("could not move \(tmp.lastPathComponent) to \(url.path): \(reason) — check the output directory is writable")
        }
    }

    /// Creates `dir` (and parents) if needed, with a one-line error if that is impossible.
    static func ensureDirectory(_ dir: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
            if !isDir.boolValue {
                throw StudyKitError.io("output path \(dir.path) is a file, not a directory — pass a directory path")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw StudyKitError.io("could not create output directory \(dir.path) — check permissions or choose another output directory")
        }
    }
}
