// FamilyReferenceDumpTests.swift — the Swift half of scripts/family-compare.sh (optional, not CI): runs a
// family plugin's inner loop on inputs written by scripts/family_compare.py and writes its outputs back.
// Skipped unless FAMILY_COMPARE_DIR is set.
import Foundation
import XCTest
@testable import Layers
import TensorCore
import Zoo

final class FamilyReferenceDumpTests: XCTestCase {
    /// Reads `<dir>/<case>/meta.json` ({"plugin", "H", "T", "d", "b"}) and the raw little-endian Float32
    /// tensors q, k, v [H, T, d], eta [H, T, 1], optional log_decay [H, T, 1] and W1… [H, …] (initial
    /// inner state); writes `out.f32` [H, T, d], the per-head outputs of `innerLoop` (batch 1).
    func testDumpFamilyOutputs() throws {
        guard let root = ProcessInfo.processInfo.environment["FAMILY_COMPARE_DIR"] else {
            throw XCTSkip("set FAMILY_COMPARE_DIR (scripts/family-compare.sh runs this)")
        }
        let cases = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        XCTAssertFalse(cases.isEmpty, "no cases under \(root)")
        for name in cases {
            let dir = URL(fileURLWithPath: root).appendingPathComponent(name)
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as! [String: Any]
            let (H, T, d, b) = (meta["H"] as! Int, meta["T"] as! Int, meta["d"] as! Int, meta["b"] as! Int)
            func load(_ file: String, _ shape: [Int]) throws -> Tensor? {
                let url = dir.appendingPathComponent(file + ".f32")
                guard FileManager.default.fileExists(atPath: url.path) else { return nil }
                let data = try Data(contentsOf: url)
                XCTAssertEqual(data.count, shape.reduce(1, *) * 4, "\(name)/\(file)")
                let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                return Tensor(floats, shape: shape)
            }
            var cfg = LayerConfig(width: H * d, heads: H)
            cfg.ttt.miniBatch = b
            var rng = RNG(seed: 0)
            let layer = try TTTLayer(config: cfg, inner: try InnerModelRegistry.named(meta["plugin"] as! String), rng: &rng)
            for (i, spec) in layer.specs.enumerated() {
                if let w = try load(spec.name, [H] + spec.shape) { layer.theta[i].data.update(from: w.data, count: w.count) }
            }
            let (gamma, beta) = layer.innerNorm(batch: 1)
            let m = TTTLayer.MixerInputs(q: try load("q", [H, T, d])!, k: try load("k", [H, T, d])!, v: try load("v", [H, T, d])!,
                                         eta: try load("eta", [H, T, 1])!, c: layer.tokenScale(), gamma: gamma, beta: beta,
                                         logDecay: try load("log_decay", [H, T, 1]))
            let out = withNoGrad { layer.innerLoop(m, batch: 1) }
            let bytes = Data(buffer: UnsafeBufferPointer(start: out.data, count: out.count))
            try bytes.write(to: dir.appendingPathComponent("out.f32"))
        }
    }
}
