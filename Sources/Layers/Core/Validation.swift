// Validation.swift — the one validation layer for numbers a user gives (CLI options, config files) and
// for tensors read from files: counts and lengths in range, durations finite and positive, products
// that cannot overflow, memory estimated (in Double, before anything is allocated), tensors finite.
// Every failure is a `LabError` whose one line names the value, the valid range and the fix.
import Foundation
import TensorCore

/// Checks user numbers and loaded tensors before they size a buffer or reach arithmetic.
///
/// ```swift
/// try Validate.count(context, "--context", max: Validate.maxLength)       // "--context 0 must be ≥ 1"
/// try Validate.seconds(seconds, "--seconds")                                // NaN, Inf, 0, −1 refused
/// try Validate.memory(bytes: 4 * Double(B) * Double(T) * Double(D) * 64, for: "the benchmark", fix: "use a smaller --context")
/// try Validate.finite(file.tensors, in: "x.safetensors")                   // "tensor 'input' holds nan at [0, 3, 1]"
/// ```
public enum Validate {
    /// Largest sequence length / context any command accepts (2³⁰; far beyond what fits in memory, and
    /// small enough that T·D·H products stay far from Int overflow).
    public static let maxLength = 1 << 30
    /// Largest count of steps, tokens, windows, … (1e9, as `TrainConfig`).
    public static let maxCount = 1_000_000_000
    /// Largest duration in seconds a benchmark may be asked for (one day).
    public static let maxSeconds = 86_400.0

    /// `value` must lie in `min...max`; `flag` names the option (e.g. "--context").
    public static func count(_ value: Int, _ flag: String, min: Int = 1, max: Int = maxCount, hint: String? = nil) throws {
        guard value >= min else {
            throw LabError.badConfig("\(flag) \(value) must be ≥ \(min)" + (hint.map { "; \($0)" } ?? ""))
        }
        guard value <= max else {
            throw LabError.badConfig("\(flag) \(value) must be ≤ \(max)" + (hint.map { "; \($0)" } ?? "; pass a smaller \(flag)"))
        }
    }

    /// A duration in seconds: finite, > 0 and ≤ `max`.
    public static func seconds(_ value: Double, _ flag: String, max: Double = maxSeconds) throws {
        guard value.isFinite, value > 0, value <= max else {
            throw LabError.badConfig("\(flag) \(value) must be a number of seconds > 0 and ≤ \(Int(max)) (e.g. \(flag) 0.5)")
        }
    }

    /// The product of `factors`, or a `LabError` when it overflows `Int` (e.g. B·T·D of user sizes).
    public static func product(_ factors: [Int], what: String, fix: String) throws -> Int {
        var p = 1
        for f in factors {
            let (r, o) = p.multipliedReportingOverflow(by: f)
            guard !o, f >= 0 else { throw LabError.badConfig("\(what) (\(factors.map(String.init).joined(separator: " × "))) is too large to compute — \(fix)") }
            p = r
        }
        return p
    }

    /// Memory the machine has (physical; a cgroup limit is not seen).
    public static var availableBytes: Double { Double(ProcessInfo.processInfo.physicalMemory) }

    /// Refuses an estimate (in bytes, computed in Double so absurd sizes cannot overflow) larger than
    /// `fraction` of this machine's memory: "X needs ≈ N GiB of memory, more than …".
    public static func memory(bytes: Double, for what: String, fix: String, fraction: Double = 0.75) throws {
        let have = availableBytes
        guard bytes.isFinite, bytes >= 0, bytes <= have * fraction else {
            let gib = 1073741824.0
            let need = bytes.isFinite ? String(format: "≈ %.1f GiB", bytes / gib) : "more than can be counted"
            throw LabError.badConfig(String(format: "%@ needs %@ of memory, more than this machine's %.1f GiB allow — %@", what, need, have / gib, fix))
        }
    }

    /// The flat index and value of the first NaN or ±Inf in `t`, or nil when every element is finite.
    public static func firstNonFinite(_ t: Tensor) -> (index: Int, value: Float)? {
        let p = t.data, n = t.count
        for i in 0..<n where !p[i].isFinite { return (i, p[i]) }
        return nil
    }

    /// "[0, 3, 1]" for a flat index into `shape`.
    public static func position(_ flat: Int, in shape: [Int]) -> String {
        var idx = [Int](repeating: 0, count: shape.count), r = flat
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 { idx[d] = r % shape[d]; r /= shape[d] }
        return "[" + idx.map(String.init).joined(separator: ", ") + "]"
    }

    /// Refuses a NaN or ±Inf in any tensor read from `path` (a weight file, an input, a checkpoint),
    /// naming the tensor and the element: `…: tensor 'W1' holds nan at [0, 2, 5] — …`.
    public static func finite(_ tensors: [String: Tensor], in path: String,
                              fix: String = "the file holds non-finite numbers; re-export it from finite values") throws {
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            if let (i, v) = firstNonFinite(t) {
                throw LabError.badFile(path: path, problem: "tensor '\(printable(name))' holds \(v) at \(position(i, in: t.shape)) — \(fix)")
            }
        }
    }

    /// Refuses a non-finite result before it is written: "the output tensor 'output' went non-finite (inf at …)".
    public static func finiteOutput(_ t: Tensor, name: String, path: String, fix: String) throws {
        if let (i, v) = firstNonFinite(t) {
            throw LabError.failed("\(path): not written — the output tensor '\(name)' went non-finite (\(v) at \(position(i, in: t.shape))); \(fix)")
        }
    }

    /// A name with control characters escaped and long names cut, for one-line messages.
    static func printable(_ s: String) -> String {
        let scalars = s.unicodeScalars
        return scalars.prefix(80).map { $0.value < 0x20 || $0.value == 0x7F ? String(format: "\\u%04x", $0.value) : String($0) }.joined()
            + (scalars.count > 80 ? "…" : "")
    }
}
