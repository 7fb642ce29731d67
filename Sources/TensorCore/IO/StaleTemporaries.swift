// StaleTemporaries.swift — temp files and directories a killed lab process left behind
// (`.<name>.tmp-<pid>[-<token>]`, from AtomicFile, StudyKit's writes and directory placement): the next
// write of the same name removes those whose process is gone, so a SIGKILL never leaves litter for good.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds and removes leftovers of interrupted atomic writes.
///
/// ```swift
/// StaleTemporaries.removeLeftovers(of: "model.safetensors", in: "runs/tiny")   // .model.safetensors.tmp-4242-… (pid 4242 gone)
/// ```
public enum StaleTemporaries {
    /// The pid in a temp name `.<base>.tmp-<pid>` or `.<base>.tmp-<pid>-<token>`, or nil when `name` is not one.
    public static func ownerPID(of name: String, base: String) -> Int32? {
        let prefix = ".\(base).tmp-"
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9, rest.count == digits.count || rest.dropFirst(digits.count).first == "-" else { return nil }
        return Int32(digits)
    }

    /// Whether a process with this pid exists (EPERM: it exists but is another user's).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Removes every `.<base>.tmp-<pid>…` file or directory in `dir` whose process is gone; returns the
    /// names removed. Errors are ignored (a leftover that cannot be removed harms nothing but space).
    @discardableResult
    public static func removeLeftovers(of base: String, in dir: String) -> [String] {
        guard !base.isEmpty, let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return [] }
        var removed: [String] = []
        for n in names {
            guard let pid = ownerPID(of: n, base: base), pid != getpid(), !isAlive(pid) else { continue }
            if (try? FileManager.default.removeItem(atPath: (dir.isEmpty ? "." : dir) + "/" + n)) != nil { removed.append(n) }
        }
        return removed
    }
}
