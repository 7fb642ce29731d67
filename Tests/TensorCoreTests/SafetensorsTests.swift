// SafetensorsTests.swift — the safetensors reader/writer: round trip, the published layout, every
// corruption the reader must reject with a one-line message, and a seeded mutation fuzz.
import Foundation
import XCTest
@testable import TensorCore

final class SafetensorsTests: XCTestCase {

    // MARK: helpers

    /// Little-endian bytes of Float32 values.
    private func f32Bytes(_ v: [Float]) -> [UInt8] {
        v.flatMap { f -> [UInt8] in let b = f.bitPattern; return (0..<4).map { UInt8((b >> (8 * UInt32($0))) & 0xFF) } }
    }

    /// A file from a header string and data bytes, following the published layout (no writer involved).
    private func file(header: String, data: [UInt8], headerLength: UInt64? = nil) -> Data {
        let h = Array(header.utf8)
        let n = headerLength ?? UInt64(h.count)
        var out = (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) }
        out += h
        out += data
        return Data(out)
    }

    private func parseError(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try SafetensorsFile.parse(data, path: "x.safetensors")
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch let e as FileError {
            let msg = e.description
            XCTAssertTrue(msg.hasPrefix("cannot read x.safetensors: "), msg, file: file, line: line)
            XCTAssertFalse(msg.contains("\n"), "message must be one line: \(msg)", file: file, line: line)
            return msg
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
            return ""
        }
    }

    private func assertRejects(_ header: String, _ data: [UInt8] = [], _ phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        let msg = parseError(self.file(header: header, data: data), file: file, line: line)
        XCTAssertTrue(msg.contains(phrase), "message '\(msg)' lacks '\(phrase)'", file: file, line: line)
    }

    private func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    // MARK: round trip

    func testRoundTripIsBitIdenticalForAllShapes() throws {
        var rng = RNG(seed: 7)
        let special: [Float] = [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.greatestFiniteMagnitude,
                                Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFFA0_0001)]  // NaNs with payloads
        let tensors: [String: Tensor] = [
            "scalar": Tensor(scalar: 3.25),
            "empty": Tensor(zeros: [0]),
            "zero_mid": Tensor(zeros: [3, 0, 2]),
            "special": Tensor(special, shape: [2, 4]),
            "w/kernel": Tensor.randn([5, 7], rng: &rng),
            "deep": Tensor.randn([1, 2, 1, 3, 2], rng: &rng),
            "ünïcode \"q\"\n": Tensor([1, 2], shape: [2]),
        ]
        let meta = ["format": "pt", "note": "quote \" backslash \\ tab \t"]
        let bytes = try SafetensorsFile(tensors: tensors, metadata: meta).encoded()
        let back = try SafetensorsFile.parse(bytes, path: "mem")
        XCTAssertEqual(back.metadata, meta)
        XCTAssertEqual(Set(back.tensors.keys), Set(tensors.keys))
        for (name, t) in tensors {
            let u = try XCTUnwrap(back.tensors[name])
            XCTAssertEqual(u.shape, t.shape, name)
            XCTAssertEqual(bits(u), bits(t), name)
        }
        // Same input → same bytes (deterministic order), and re-encoding the parse is a fixed point.
        XCTAssertEqual(try SafetensorsFile(tensors: tensors, metadata: meta).encoded(), bytes)
        XCTAssertEqual(try back.encoded(), bytes)
    }

    func testWriterFollowsThePublishedLayout() throws {
        let f = SafetensorsFile(tensors: ["b": Tensor([1, 2, 3], shape: [3]), "a": Tensor([4, 5], shape: [1, 2])],
                                metadata: ["k": "v"])
        let bytes = [UInt8](try f.encoded())
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertEqual(n % 8, 0, "header is padded to a multiple of 8")
        let header = Data(bytes[8..<(8 + n)])
        let text = String(decoding: header, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{"))
        // Padding is spaces only.
        let trimmed = text.replacingOccurrences(of: " +$", with: "", options: .regularExpression)
        XCTAssertTrue(trimmed.hasSuffix("}"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: header) as? [String: Any])
        XCTAssertEqual(json["__metadata__"] as? [String: String], ["k": "v"])
        let a = try XCTUnwrap(json["a"] as? [String: Any])
        let b = try XCTUnwrap(json["b"] as? [String: Any])
        XCTAssertEqual(a["dtype"] as? String, "F32")
        XCTAssertEqual(a["shape"] as? [Int], [1, 2])
        XCTAssertEqual(a["data_offsets"] as? [Int], [0, 8], "sorted by name: 'a' first")
        XCTAssertEqual(b["data_offsets"] as? [Int], [8, 20])
        XCTAssertEqual(Array(bytes[(8 + n)...]), f32Bytes([4, 5, 1, 2, 3]))
    }

    func testWriterWithoutMetadataOmitsTheKey() throws {
        let bytes = [UInt8](try SafetensorsFile(tensors: ["x": Tensor(scalar: 1)]).encoded())
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        XCTAssertNil(json["__metadata__"])
        XCTAssertEqual((json["x"] as? [String: Any])?["shape"] as? [Int], [])
    }

    func testReservedNameIsRejectedOnWrite() {
        XCTAssertThrowsError(try SafetensorsFile(tensors: ["__metadata__": Tensor(scalar: 1)]).encoded()) { e in
            XCTAssertTrue("\(e)".contains("reserves"), "\(e)")
        }
    }

    // MARK: hand-built files

    func testHandBuiltF32FileParses() throws {
        // Entries deliberately not in offset order in the JSON, with extra whitespace and padding.
        let header = #"{ "b": {"dtype":"F32", "shape":[2], "data_offsets":[8,16]}, "__metadata__": {"format":"pt"}, "a": {"dtype":"F32","shape":[1, 2],"data_offsets":[0,8]} }   "#
        let data = f32Bytes([1.5, -2, 0.25, 1e-3])
        let f = try SafetensorsFile.parse(file(header: header, data: data), path: "hand")
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(f.tensors["a"]?.shape, [1, 2])
        XCTAssertEqual(f.tensors["a"]?.array, [1.5, -2])
        XCTAssertEqual(f.tensors["b"]?.shape, [2])
        XCTAssertEqual(f.tensors["b"]?.array, [0.25, 1e-3])
    }

    func testHandBuiltOtherFloatDtypesConvertExactly() throws {
        // F64: 1.0, -2.5 ; F16: 1, -2, 65504, 2^-24 (subnormal), +inf ; BF16: 1, 3.140625.
        var data: [UInt8] = []
        for d in [1.0, -2.5] as [Double] { let b = d.bitPattern; data += (0..<8).map { UInt8((b >> (8 * UInt64($0))) & 0xFF) } }
        for h in [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00] as [UInt16] { data += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        for h in [0x3F80, 0x4049] as [UInt16] { data += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        let header = #"{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[5],"data_offsets":[16,26]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[26,30]}}"#
        let f = try SafetensorsFile.parse(file(header: header, data: data), path: "hand")
        XCTAssertEqual(f.tensors["d"]?.array, [1, -2.5])
        XCTAssertEqual(f.tensors["h"]?.array, [1, -2, 65504, Float(pow(2.0, -24.0)), .infinity])
        XCTAssertEqual(f.tensors["bf"]?.array, [1, 3.140625])
    }

    func testHalfConversionMatchesReferenceForAllBitPatterns() {
        // Reference: decode the half by its definition in Double arithmetic.
        for h in 0...UInt16.max {
            let s: Double = h & 0x8000 != 0 ? -1 : 1
            let e = Int(h >> 10) & 0x1F, m = Double(h & 0x3FF)
            let got = halfToFloat(h)
            if e == 0x1F {
                if m == 0 { XCTAssertEqual(got, Float(s) * .infinity) } else { XCTAssertTrue(got.isNaN) }
            } else {
                let ref = e == 0 ? s * m * pow(2.0, -24) : s * (1 + m / 1024) * pow(2.0, Double(e - 15))
                XCTAssertEqual(got.bitPattern, Float(ref).bitPattern, "half 0x\(String(h, radix: 16))")
            }
        }
    }

    func testEmptyHeaderObjectAndZeroSizeTensorsParse() throws {
        XCTAssertEqual(try SafetensorsFile.parse(file(header: "{}", data: []), path: "e").tensors.count, 0)
        let f = try SafetensorsFile.parse(file(header: #"{"z":{"dtype":"F32","shape":[4,0],"data_offsets":[0,0]},"y":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#, data: []), path: "z")
        XCTAssertEqual(f.tensors["z"]?.shape, [4, 0])
        XCTAssertEqual(f.tensors["y"]?.count, 0)
    }

    // MARK: corruption

    func testTruncatedAndBadHeaderLengths() {
        XCTAssertTrue(parseError(Data([1, 2, 3])).contains("shorter than the 8-byte header length"))
        XCTAssertTrue(parseError(Data()).contains("shorter than the 8-byte"))
        XCTAssertTrue(parseError(file(header: "{}", data: [], headerLength: 3)).contains("past the end of the file"))
        XCTAssertTrue(parseError(file(header: "{}", data: [], headerLength: 200_000_000)).contains("absurdly large"))
        XCTAssertTrue(parseError(file(header: "{}", data: [], headerLength: UInt64.max)).contains("absurdly large"))
        // A valid file cut short: its data no longer covers the declared offsets.
        let good = try! SafetensorsFile(tensors: ["w": Tensor([1, 2, 3, 4], shape: [4])]).encoded()
        XCTAssertTrue(parseError(good.prefix(good.count - 1)).contains("past the end of the data"))
        XCTAssertTrue(parseError(good.prefix(10)).contains("past the end of the file"))
    }

    func testHeaderMustBeAJSONObject() {
        assertRejects("{not json", [], "not valid JSON")
        assertRejects("", [], "not valid JSON")
        assertRejects("[1, 2]", [], "not an object")
        assertRejects(#""str""#, [], "not an object")
        assertRejects(String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), [], "deeper than")
        assertRejects(#"{"a": 3}"#, [], "entry 'a' is not an object")
    }

    func testEntryFieldsAreRequired() {
        assertRejects(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, f32Bytes([1]), "entry 'a' has no dtype")
        assertRejects(#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, f32Bytes([1]), "entry 'a' has no shape")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1]}}"#, f32Bytes([1]), "entry 'a' has no data_offsets")
        // Names from the file are escaped so that the message stays on one line.
        assertRejects(#"{"a\nb":{"shape":[1],"data_offsets":[0,4]}}"#, f32Bytes([1]), #"entry 'a\u000ab' has no dtype"#)
        assertRejects(#"{"a":{"dtype":"I\n8","shape":[1],"data_offsets":[0,1]}}"#, [0], #"has dtype I\u000a8"#)
        assertRejects(#"{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}"#, f32Bytes([1]), "dtype is not a string")
        assertRejects(#"{"a":{"dtype":"F32","shape":3,"data_offsets":[0,4]}}"#, f32Bytes([1]), "shape is not a list")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, f32Bytes([1]), "two integers")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#, f32Bytes([1]), "two integers")
    }

    func testUnsupportedDtypeNamesTheDtype() {
        let msg = parseError(file(header: #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        XCTAssertTrue(msg.contains("dtype I64"), msg)
        XCTAssertTrue(msg.contains("F32 only"), msg)
        XCTAssertTrue(msg.contains("'ids'"), msg)
    }

    func testBadDimensions() {
        assertRejects(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, f32Bytes([1]), "negative dimension")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, f32Bytes([1]), "non-integer dimension")
        assertRejects(#"{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, f32Bytes([1]), "non-integer dimension")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}"#, f32Bytes([1]), "non-integer dimension")
        assertRejects(#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, f32Bytes([1]), "non-integer dimension")
        // Overflowing element count, even with a zero dimension after it.
        assertRejects(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#, [], "too large")
    }

    func testShapeMustMatchByteRange() {
        assertRejects(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, f32Bytes([1, 2]), "needs 12 bytes but data_offsets [0, 8] hold 8")
        assertRejects(#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#, f32Bytes([1, 2]), "needs 16 bytes")
    }

    func testOffsetsMustTileTheData() {
        let d = f32Bytes([1, 2, 3, 4])
        assertRejects(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, d, "out of order")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, d, "negative")
        assertRejects(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#, d, "past the end of the data (16 bytes)")
        assertRejects(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, d, "overlapping")
        assertRejects(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, d, "unused bytes before tensor 'b'")
        assertRejects(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, d, "the data section is 16 bytes but the tensors cover 8")
    }

    func testDuplicateNamesAreRejected() {
        assertRejects(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32Bytes([1, 2]), "'a' appears twice")
        // Same name spelled with an escape.
        assertRejects(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32Bytes([1, 2]), "appears twice")
    }

    func testMetadataMustBeStrings() {
        assertRejects(#"{"__metadata__":{"epoch":3}}"#, [], "value for 'epoch' is not a string")
        assertRejects(#"{"__metadata__":[1]}"#, [], "__metadata__ is not an object")
    }

    func testReadNamesMissingFileAndDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-read-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try SafetensorsFile.read(dir.appendingPathComponent("nope.safetensors"))) { e in
            XCTAssertTrue("\(e)".contains("nope.safetensors: no such file"), "\(e)")
        }
        XCTAssertThrowsError(try SafetensorsFile.read(dir)) { e in XCTAssertTrue("\(e)".contains("directory"), "\(e)") }
        // And a write/read through the file system round-trips.
        let url = dir.appendingPathComponent("sub/m.safetensors")
        try SafetensorsFile(tensors: ["w": Tensor([1, 2], shape: [2])], metadata: ["a": "b"]).write(to: url)
        let back = try SafetensorsFile.read(url)
        XCTAssertEqual(back.tensors["w"]?.array, [1, 2])
        XCTAssertEqual(back.metadata, ["a": "b"])
    }

    // MARK: fuzz

    /// 3000 seeded mutations of a valid file (bit flips, byte inserts/deletes, truncation, random
    /// header lengths, header-byte edits) must each parse or throw a `FileError` — never trap or hang.
    func testMutationFuzzNeverCrashes() throws {
        var rng = RNG(seed: 2024)
        let base = [UInt8](try SafetensorsFile(
            tensors: ["a": Tensor.randn([3, 4], rng: &rng), "b": Tensor(scalar: 1), "c": Tensor(zeros: [2, 0]), "d": Tensor.randn([5], rng: &rng)],
            metadata: ["format": "pt"]).encoded())
        let headerLen = (0..<8).reduce(0) { $0 | Int(base[$1]) << (8 * $1) }
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        let interesting: [UInt8] = Array("{}[]\",:-0123456789.eE ".utf8) + [0, 0xFF, 0x80]
        var parsed = 0, rejected = 0
        var kinds = Set<String>()  // kinds of rejection, names and numbers blanked
        let start = Date()
        for _ in 0..<3000 {
            var b = base
            for _ in 0..<(1 + below(4)) {
                switch below(7) {
                case 0: if !b.isEmpty { b[below(b.count)] ^= UInt8(1 << below(8)) }
                case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: below(b.count + 1))
                case 2: if !b.isEmpty { b.remove(at: below(b.count)) }
                case 3: b = Array(b.prefix(below(b.count + 1)))
                case 4:  // random header length: tiny, near the real one, or huge
                    let n: UInt64 = [UInt64(below(16)), UInt64(max(0, headerLen + below(17) - 8)), rng.next(), UInt64(below(1 << 30))][below(4)]
                    if b.count >= 8 { for i in 0..<8 { b[i] = UInt8((n >> (8 * UInt64(i))) & 0xFF) } }
                case 5:  // structural byte inside the header
                    if b.count > 8 { b[8 + below(min(headerLen, b.count - 8))] = interesting[below(interesting.count)] }
                default:  // digit edits inside the header (offsets and dims)
                    if b.count > 8 {
                        let i = 8 + below(min(headerLen, b.count - 8))
                        if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { b[i] = UInt8(ascii: "0") + UInt8(below(10)) }
                    }
                }
            }
            do {
                let f = try SafetensorsFile.parse(Data(b), path: "fuzz")
                for (_, t) in f.tensors { XCTAssertEqual(t.count, t.shape.reduce(1, *)) }
                parsed += 1
            } catch let e as FileError {
                XCTAssertFalse(e.description.contains("\n"), "one line: \(e)")
                kinds.insert(String(e.problem.replacingOccurrences(of: "'[^']*'|[0-9]+", with: "_", options: .regularExpression).prefix(30)))
                rejected += 1
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(parsed + rejected, 3000)
        XCTAssertGreaterThan(rejected, 1000, "the mutations should break most files")
        XCTAssertGreaterThan(parsed, 0, "some mutations (e.g. inside float data) keep the file valid")
        XCTAssertGreaterThanOrEqual(kinds.count, 8, "mutations reach the deeper checks, not just the header length: \(kinds.sorted())")
        XCTAssertLessThan(elapsed, 60, "3000 parses of a small file must be fast (took \(elapsed) s)")
    }
}
