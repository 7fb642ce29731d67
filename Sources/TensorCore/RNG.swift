// RNG.swift — seeded, platform-independent random numbers for reproducible initialisation.

/// SplitMix64-seeded xoshiro256** generator. Same seed → same stream on every machine.
public struct RNG: RandomNumberGenerator, Sendable {
    var s: (UInt64, UInt64, UInt64, UInt64)
    public init(seed: UInt64) {
        var z = seed
        func next() -> UInt64 {
            z &+= 0x9E3779B97F4A7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58476D1CE4E5B9
            x = (x ^ (x >> 27)) &* 0x94D049BB133111EB
            return x ^ (x >> 31)
        }
        s = (next(), next(), next(), next())
    }
    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3; s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }
    /// Standard normal (Box–Muller, one value per call).
    public mutating func normal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
    /// A new independent generator (for a sub-component) derived from this one.
    public mutating func split() -> RNG { RNG(seed: next()) }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }

extension Tensor {
    /// N(0, std²) entries.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count { t.data[i] = rng.normal() * std }
        return t
    }
    /// Uniform entries in [lo, hi).
    public static func uniform(_ shape: [Int], _ lo: Float, _ hi: Float, rng: inout RNG) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count { t.data[i] = lo + (hi - lo) * rng.uniform() }
        return t
    }
}
