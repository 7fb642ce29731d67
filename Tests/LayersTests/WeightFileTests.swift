// WeightFileTests.swift — saveWeights/loadWeights: file layouts (transpose, fileShape), exact round
// trip, and one-line errors for missing, extra and mismatched parameters.
import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Layers

final class WeightFileTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory("weights")
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    /// A parameter set like a TTT layer's: linear maps, a reshaped kernel, a batched transpose, a scalar.
    private func params(seed: UInt64, width D: Int = 6, heads H: Int = 2) -> [Param] {
        var rng = RNG(seed: seed)
        return [
            .linear("q_proj.weight", Tensor.randn([D, D + 1], rng: &rng)),                    // [in, out] → file (out, in)
            Param("learnable_ttt_lr_weight", Tensor.randn([H, D, 1], rng: &rng), fileShape: [H, 1, D]),
            Param("W1", Tensor.randn([H, 3, 4], rng: &rng), transposeInFile: true),          // batched: file [H, 4, 3]
            Param("conv.weight", Tensor.randn([4, 1, D], rng: &rng), transposeInFile: false, fileShape: [4, D]),
            Param("post_norm.weight", Tensor.randn([D], rng: &rng)),
            Param("scale", Tensor(scalar: 0.5)),
            Param("empty", Tensor(zeros: [0, 3]), transposeInFile: true),
        ]
    }

    private func zeroed(_ ps: [Param]) -> [Param] {
        ps.map { Param($0.name, Tensor(zeros: $0.tensor.shape), transposeInFile: $0.transposeInFile, fileShape: $0.fileShape) }
    }

    private func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    private func message(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do { try body(); XCTFail("expected an error", file: file, line: line); return "" } catch let e as LabError {
            guard case .badFile = e else { XCTFail("not badFile: \(e)", file: file, line: line); return "" }
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            return e.description
        } catch { XCTFail("not a LabError: \(error)", file: file, line: line); return "" }
    }

    func testRoundTripIsBitIdenticalAndReturnsMetadata() throws {
        let src = params(seed: 1)
        let url = dir.appendingPathComponent("ckpt/layer.safetensors")
        try saveWeights(src, to: url, metadata: ["kind": "ttt-linear", "step": "100"])
        let dst = zeroed(src)
        let meta = try loadWeights(into: dst, from: url)
        XCTAssertEqual(meta, ["kind": "ttt-linear", "step": "100"])
        for (a, b) in zip(src, dst) {
            XCTAssertEqual(b.tensor.shape, a.tensor.shape, a.name)
            XCTAssertEqual(bits(b.tensor), bits(a.tensor), a.name)
        }
    }

    func testFileLayoutIsTransposedAndReshaped() throws {
        let src = params(seed: 2)
        let url = dir.appendingPathComponent("layout.safetensors")
        try saveWeights(src, to: url)
        let f = try SafetensorsFile.read(url)
        // Linear: lab [in=6, out=7] → file (out=7, in=6), file[o, i] = W[i, o].
        let w = src[0].tensor, fw = try XCTUnwrap(f.tensors["q_proj.weight"])
        XCTAssertEqual(fw.shape, [7, 6])
        for i in 0..<6 { for o in 0..<7 { XCTAssertEqual(fw.data[o * 6 + i], w.data[i * 7 + o]) } }
        // fileShape only: same element order, new shape.
        let lr = try XCTUnwrap(f.tensors["learnable_ttt_lr_weight"])
        XCTAssertEqual(lr.shape, [2, 1, 6])
        XCTAssertEqual(bits(lr), bits(src[1].tensor))
        // Batched transpose of the last two dims: file[h, j, i] = W1[h, i, j].
        let w1 = src[2].tensor, fw1 = try XCTUnwrap(f.tensors["W1"])
        XCTAssertEqual(fw1.shape, [2, 4, 3])
        for h in 0..<2 { for i in 0..<3 { for j in 0..<4 { XCTAssertEqual(fw1.data[h * 12 + j * 3 + i], w1.data[h * 12 + i * 4 + j]) } } }
        XCTAssertEqual(f.tensors["conv.weight"]?.shape, [4, 6])
        XCTAssertEqual(f.tensors["scale"]?.shape, [])
        XCTAssertEqual(f.tensors["empty"]?.shape, [3, 0])
        // Negative control: a non-square linear saved untransposed would not match these values.
        XCTAssertNotEqual(bits(fw), bits(w))
    }

    func testMissingParametersAreListed() throws {
        let url = dir.appendingPathComponent("few.safetensors")
        try saveWeights(Array(params(seed: 3).prefix(2)), to: url)
        let msg = message { try loadWeights(into: zeroed(params(seed: 3)), from: url) }
        XCTAssertTrue(msg.hasPrefix(url.path + ": missing 5 parameters ("), msg)
        XCTAssertTrue(msg.contains("'W1'") && msg.contains("… 1 more"), msg)
        XCTAssertTrue(msg.contains("different layer or configuration"), msg)
    }

    func testExtraTensorsAreRejected() throws {
        let url = dir.appendingPathComponent("many.safetensors")
        try saveWeights(params(seed: 4), to: url)
        let msg = message { try loadWeights(into: zeroed(Array(params(seed: 4).prefix(5))), from: url) }
        XCTAssertTrue(msg.contains("2 unexpected tensors ('empty', 'scale')"), msg)
    }

    func testShapeMismatchNamesBothShapesAndLeavesParamsUntouched() throws {
        let url = dir.appendingPathComponent("d6.safetensors")
        try saveWeights(params(seed: 5, width: 6), to: url)
        let other = params(seed: 9, width: 4)
        let before = other.map { bits($0.tensor) }
        let msg = message { try loadWeights(into: other, from: url) }
        XCTAssertTrue(msg.contains("parameter 'q_proj.weight' has shape [7, 6] in the file but [5, 4] is expected"), msg)
        XCTAssertEqual(other.map { bits($0.tensor) }, before, "a failed load copies nothing")
    }

    func testCorruptFileIsABadFileError() throws {
        let url = dir.appendingPathComponent("bad.safetensors")
        try AtomicFile.write(Data([1, 2, 3]), to: url)
        let msg = message { try loadWeights(into: params(seed: 6), from: url) }
        XCTAssertTrue(msg.contains("shorter than the 8-byte header length"), msg)
        let missing = message { try loadWeights(into: params(seed: 6), from: dir.appendingPathComponent("none.safetensors")) }
        XCTAssertTrue(missing.contains("no such file"), missing)
    }

    func testBadParamDeclarationsAreRejectedOnSave() {
        let url = dir.appendingPathComponent("x.safetensors")
        let dup = message { try saveWeights([Param("a", Tensor(scalar: 1)), Param("a", Tensor(scalar: 2))], to: url) }
        XCTAssertTrue(dup.contains("two parameters are named 'a'"), dup)
        let oneD = message { try saveWeights([Param("b", Tensor(zeros: [3]), transposeInFile: true)], to: url) }
        XCTAssertTrue(oneD.contains("fewer than 2 dims"), oneD)
        let badShape = message { try saveWeights([Param("c", Tensor(zeros: [2, 3]), fileShape: [5])], to: url) }
        XCTAssertTrue(badShape.contains("cannot be stored as fileShape [5]"), badShape)
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path), "nothing written after a failed save")
    }
}
