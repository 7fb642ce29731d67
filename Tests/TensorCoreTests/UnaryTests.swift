// UnaryTests.swift — elementwise functions: values against Double formulas, gradients by finite differences.
import XCTest
import Foundation
@testable import TensorCore

/// Spec §0 in Double: gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
private func geluD(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
/// Spec §0 in Double: gelu'(x) = ½(1+τ) + ½x(1−τ²)(√(2/π) + 3·0.044715·√(2/π)x²).
private func geluPrimeD(_ x: Double) -> Double {
    let c = (2 / Double.pi).squareRoot()
    let t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (c + 3 * 0.044715 * c * x * x)
}

final class UnaryTests: XCTestCase {
    static let grid: [Float] = stride(from: -6.0, through: 6.0, by: 0.05).map { Float($0) }

    static let cases: [(String, (Tensor) -> Tensor, (Double) -> Double, ClosedRange<Float>, Bool)] = [
        // (name, op, Double reference, input magnitude range, allow negative inputs)
        ("exp", { $0.exp() }, { Foundation.exp($0) }, 0.1...2, true),
        ("log", { $0.log() }, { Foundation.log($0) }, 0.3...3, false),
        ("tanh", { $0.tanh() }, { Foundation.tanh($0) }, 0.1...2, true),
        ("sigmoid", { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, 0.1...4, true),
        ("softplus", { $0.softplus() }, { Foundation.log1p(Foundation.exp($0)) }, 0.1...4, true),
        ("silu", { $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }, 0.1...4, true),
        ("gelu", { $0.gelu() }, geluD, 0.1...4, true),
        ("geluPrime", { $0.geluPrime() }, geluPrimeD, 0.1...3, true),
        ("relu", { $0.relu() }, { max($0, 0) }, 0.1...2, true),
        ("elu", { $0.elu() }, { $0 > 0 ? $0 : Foundation.exp($0) - 1 }, 0.1...2, true),
        ("sqrt", { $0.sqrt() }, { $0.squareRoot() }, 0.3...3, false),
        ("rsqrt", { $0.rsqrt() }, { 1 / $0.squareRoot() }, 0.3...3, false),
        ("square", { $0.square() }, { $0 * $0 }, 0.1...2, true),
        ("reciprocal", { $0.reciprocal() }, { 1 / $0 }, 0.4...2, true),
    ]

    func testValues() {
        for (name, op, ref, range, neg) in Self.cases {
            let x = neg ? awayFromZero([40], range.lowerBound, range.upperBound, seed: 11)
                        : uniform([40], range.lowerBound, range.upperBound, seed: 11)
            let y = withNoGrad { op(x) }
            assertClose(y.array, x.array.map { ref(Double($0)) }, atol: 1e-6, rtol: 2e-6, name)
        }
    }

    func testGradients() {
        for (name, op, _, range, neg) in Self.cases {
            // Inputs at least 0.1 from 0 (relu, elu kinks; h = 1e-2 never crosses them).
            let x = neg ? awayFromZero([3, 5], range.lowerBound, range.upperBound, seed: 21)
                        : uniform([3, 5], range.lowerBound, range.upperBound, seed: 21)
            assertGradients(name, [x]) { op($0[0]) }
        }
    }

    func testSoftplusLargeInputs() {
        // The stable branch (x > 20) returns x; its derivative is σ(x) ≈ 1.
        let x = Tensor([19, 21, 30, -30], shape: [4])
        let y = withNoGrad { x.softplus() }
        assertClose(y.array, x.array.map { Foundation.log1p(Foundation.exp(Double($0))) }, atol: 1e-6, rtol: 1e-6, "softplus large")
        assertGradients("softplus large", [Tensor([19, 21, 30, 5], shape: [4])]) { $0[0].softplus() }
    }

    func testGeluMatchesSpecFormula() {
        // |gelu − ref| ≤ 2e-6·max(1, |ref|) over [−6, 6]: the code's constants 0.79788456 and 0.1070322243
        // equal √(2/π) and 3·0.044715·√(2/π) to Float32 precision.
        let x = Tensor(Self.grid, shape: [Self.grid.count])
        let g = withNoGrad { x.gelu() }, gp = withNoGrad { x.geluPrime() }
        for i in 0..<x.count {
            let xd = Double(x.data[i])
            XCTAssertLessThanOrEqual(abs(Double(g.data[i]) - geluD(xd)), 2e-6 * max(1, abs(geluD(xd))), "gelu(\(xd))")
            XCTAssertLessThanOrEqual(abs(Double(gp.data[i]) - geluPrimeD(xd)), 2e-6 * max(1, abs(geluPrimeD(xd))), "gelu'(\(xd))")
        }
        XCTAssertEqual(Double(GELU.c), (2 / Double.pi).squareRoot(), accuracy: 1e-7)
        XCTAssertEqual(Double(GELU.c3), 3 * 0.044715 * (2 / Double.pi).squareRoot(), accuracy: 1e-7)
    }

    func testGeluPrimeIsDerivativeOfGelu() {
        // The gelu' formula of docs/ttt.md §0 vs a central difference of gelu in Double (h = 1e-5): agree to 1e-8.
        // Float32 GELU.df vs that numeric derivative: 2e-6. Float32 GELU.d2f (gelu'') vs a central
        // difference of the Double gelu' (h = 1e-4): 2e-5.
        for x in Self.grid {
            let xd = Double(x)
            let num = (geluD(xd + 1e-5) - geluD(xd - 1e-5)) / 2e-5
            XCTAssertEqual(geluPrimeD(xd), num, accuracy: 1e-8, "gelu'(\(xd))")
            let num2 = (geluPrimeD(xd + 1e-4) - geluPrimeD(xd - 1e-4)) / 2e-4
            XCTAssertEqual(Double(GELU.d2f(x)), num2, accuracy: 2e-5, "gelu''(\(xd))")
            XCTAssertEqual(Double(GELU.df(x)), num, accuracy: 2e-6, "Float gelu'(\(xd))")
        }
    }
}
