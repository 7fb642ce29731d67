// RunSummary.swift — what the studies' own trainers (recall, long-context) keep of a run: its cache key
// and its training-loss curve, written once for both.
import Foundation
import TensorCore
import Models

/// `<layer>-<12 hex digits of SHA-256 of the config's JSON with sorted keys>`: one directory name per
/// configuration (the same config always gets the same key).
///
/// ```swift
/// runKey(layer: c.model.layer, config: c)   // "attention-0f119e5c7704"
/// ```
func runKey<C: Encodable>(layer: String, config: C) -> String {
    let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
    let data = (try? enc.encode(config)) ?? Data()
    return "\(layer)-" + String(SHA256.hex([UInt8](data)).prefix(12))
}

/// The training-loss curve of a run of `steps` steps, about 50 points: [step at the block's end, mean loss
/// over the block] for consecutive blocks of max(1, steps / 50) losses.
///
/// ```swift
/// lossCurve([4, 2, 3, 1], steps: 4)   // [[1, 4], [2, 2], [3, 3], [4, 1]]
/// ```
func lossCurve(_ losses: [Double], steps: Int) -> [[Double]] {
    let block = max(1, steps / 50)
    return stride(from: 0, to: losses.count, by: block).map { lo in
        let part = losses[lo..<min(losses.count, lo + block)]
        return [Double(lo + part.count), part.reduce(0, +) / Double(part.count)]
    }
}
