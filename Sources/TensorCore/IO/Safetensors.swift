// Safetensors.swift — reader and writer for the safetensors weight format (Hugging Face).
//
// Layout: 8-byte little-endian header length N, then N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …, "__metadata__": {"k": "v"}}
// then the raw little-endian tensor bytes; offsets count from the start of that data section.
import Foundation

/// A safetensors file held in memory: named Float32 tensors and string metadata.
///
/// Reading accepts F32, and converts F64, F16 and BF16 to Float32; any other dtype is an error.
/// Every structural problem (truncation, bad JSON, overlapping or out-of-range offsets, shapes that
/// do not match their byte ranges, duplicate names) is a one-line `FileError`; parsing never traps
/// and never allocates more than the file's own size in tensor data.
/// Writing produces F32 tensors sorted by name with contiguous offsets and a header padded with
/// spaces to a multiple of 8 bytes, written atomically (`AtomicFile`).
///
/// ```swift
/// var f = SafetensorsFile(tensors: ["w": Tensor([1, 2, 3, 4], shape: [2, 2])], metadata: ["format": "pt"])
/// try f.write(to: URL(fileURLWithPath: "model.safetensors"))
/// let g = try SafetensorsFile.read(URL(fileURLWithPath: "model.safetensors"))
/// g.tensors["w"]!.shape   // [2, 2]
/// ```
public struct SafetensorsFile {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000
    /// Deepest JSON nesting accepted in a header (a valid header needs 3).
    static let maxJSONDepth = 64

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
    }

    // MARK: reading

    /// Reads and validates the file at `url`.
    public static func read(_ url: URL) throws -> SafetensorsFile {
        let path = url.path
        try checkBeforeReading(url)
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw FileError(.read, path: path, problem: "the file cannot be opened (\(error.localizedDescription))", fix: "check its permissions")
        }
        return try parse(data, path: path)
    }

    /// One tensor's entry in a header, checked: a known dtype, integer shape, offsets that tile the data.
    public struct HeaderEntry: Equatable, Sendable {
        public let name: String
        /// The dtype as written ("F32", "BF16", "I64", …).
        public let dtype: String
        public let shape: [Int]
        /// Byte range inside the data section; `count` elements.
        public let begin: Int, end: Int, count: Int
    }

    /// A validated header: its entries (sorted by name), metadata, and where the data section starts.
    public struct Header: Sendable {
        public let entries: [HeaderEntry]
        public let metadata: [String: String]
        public let dataStart: Int
        public subscript(name: String) -> HeaderEntry? { entries.first { $0.name == name } }
    }

    /// Bytes per element of every dtype the format defines (the lab decodes F32/F64/F16/BF16 to Float32;
    /// integer dtypes are read only as token ids).
    public static let dtypeSizes: [String: Int] = ["F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                                                   "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1]

    /// The one validating header parser, used by every safetensors read in the lab (weights, token ids,
    /// imported checkpoints): header length in range, bounded JSON nesting, no duplicate names, a known
    /// dtype, integer (not boolean, not fractional) non-negative dimensions and offsets, byte ranges that
    /// match the shapes and tile the data section exactly. `path` only names the source in errors.
    ///
    /// ```swift
    /// let h = try SafetensorsFile.parseHeader(data, path: "ids.safetensors")
    /// h["input_ids"]?.dtype   // "I64"
    /// ```
    /// `fileSize`: the whole file's size when `data` holds only its first bytes (length and header).
    public static func parseHeader(_ data: Data, path: String, fileSize: Int? = nil) throws -> Header {
        func fail(_ problem: String, _ fix: String = "the file is damaged or not a safetensors file; re-export it") -> FileError {
            FileError(.read, path: path, problem: problem, fix: fix)
        }
        let total = fileSize ?? data.count
        guard total >= 8, data.count >= 8 else {
            throw fail("the file is \(total) bytes, shorter than the 8-byte header length")
        }
        let bytes = [UInt8](data.prefix(8))
        var n64: UInt64 = 0
        for i in 0..<8 { n64 |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n64 <= UInt64(maxHeaderBytes) else {
            throw fail("header length \(n64) is absurdly large (limit \(maxHeaderBytes) bytes)")
        }
        let n = Int(n64)
        guard n <= total - 8 else {
            throw fail("header length \(n) is past the end of the file (\(total) bytes)", "the file is truncated or not a safetensors file; re-export it")
        }
        guard 8 + n <= data.count else { throw fail("the header could not be read whole") }
        let start = data.startIndex
        let header = data.subdata(in: (start + 8)..<(start + 8 + n))
        let dataStart = 8 + n
        let dataSize = total - dataStart

        // Structural pre-scan: bounded nesting, and the top-level keys (JSONSerialization drops duplicates).
        let keys = try scanTopLevelKeys(header, fail: fail)

        let any: Any
        do { any = try JSONSerialization.jsonObject(with: header, options: [.fragmentsAllowed]) } catch {
            throw fail("the header is not valid JSON")
        }
        guard let object = any as? [String: Any] else { throw fail("the header is JSON but not an object") }

        var seen = Set<String>()
        for k in keys {
            if !seen.insert(k).inserted { throw fail("tensor name \(show(k)) appears twice in the header") }
        }

        var metadata: [String: String] = [:]
        if let m = object["__metadata__"] {
            guard let md = m as? [String: Any] else { throw fail("__metadata__ is not an object of strings") }
            for (k, v) in md {
                guard let s = v as? String else { throw fail("__metadata__ value for \(show(k)) is not a string") }
                metadata[k] = s
            }
        }

        var entries: [HeaderEntry] = []
        for name in object.keys.sorted() where name != "__metadata__" {
            guard let e = object[name] as? [String: Any] else { throw fail("entry \(show(name)) is not an object") }
            guard let dt = e["dtype"] else { throw fail("entry \(show(name)) has no dtype") }
            guard let shp = e["shape"] else { throw fail("entry \(show(name)) has no shape") }
            guard let offs = e["data_offsets"] else { throw fail("entry \(show(name)) has no data_offsets") }
            guard let dtName = dt as? String else { throw fail("entry \(show(name)): dtype is not a string") }
            guard let size = dtypeSizes[dtName] else {
                throw fail("tensor \(show(name)) has dtype \(show(dtName, quote: false)), which safetensors does not define",
                           "save the tensor as float32 (or int64 for token ids)")
            }
            guard let dims = shp as? [Any] else { throw fail("entry \(show(name)): shape is not a list") }
            var shape: [Int] = []
            for d in dims {
                guard let v = integer(d) else { throw fail("tensor \(show(name)): shape \(describe(dims)) has a non-integer dimension") }
                guard v >= 0 else { throw fail("tensor \(show(name)): shape \(describe(dims)) has a negative dimension") }
                shape.append(v)
            }
            // Element count, left to right exactly like Tensor's own product, with overflow checks.
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                if o { throw fail("tensor \(show(name)): shape \(shape) is too large") }
                count = p
            }
            guard let ol = offs as? [Any], ol.count == 2, let begin = integer(ol[0]), let end = integer(ol[1]) else {
                throw fail("tensor \(show(name)): data_offsets must be two integers [begin, end]")
            }
            guard begin >= 0, end >= 0 else { throw fail("tensor \(show(name)): data_offsets [\(begin), \(end)] are negative") }
            guard begin <= end else { throw fail("tensor \(show(name)): data_offsets [\(begin), \(end)] are out of order (begin > end)") }
            guard end <= dataSize else {
                throw fail("tensor \(show(name)): data_offsets [\(begin), \(end)] run past the end of the data (\(dataSize) bytes)",
                           "the file is truncated; re-export it")
            }
            let (nbytes, o) = count.multipliedReportingOverflow(by: size)
            guard !o, nbytes == end - begin else {
                throw fail("tensor \(show(name)): shape \(shape) of \(dtName) needs \(o ? "too many" : String(nbytes)) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
            }
            entries.append(HeaderEntry(name: name, dtype: dtName, shape: shape, begin: begin, end: end, count: count))
        }

        // Byte ranges must tile the data section: no overlap, no gap, nothing left over.
        let byRange = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        var prev = "(start of data)"
        for e in byRange {
            if e.begin < cursor { throw fail("tensors \(show(prev)) and \(show(e.name)) have overlapping data_offsets") }
            if e.begin > cursor { throw fail("there are \(e.begin - cursor) unused bytes before tensor \(show(e.name)) (offsets must be contiguous)") }
            cursor = e.end
            prev = e.name
        }
        if cursor != dataSize {
            throw fail("the data section is \(dataSize) bytes but the tensors cover \(cursor)")
        }
        return Header(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    /// Checks a file before its bytes are read: readable and regular (errno named; devices and FIFOs
    /// refused), its header parsed from the first bytes alone against the file's size (a damaged or sparse
    /// multi-gigabyte file is refused without reading it), and not larger than 3/4 of this machine's memory.
    public static func checkBeforeReading(_ url: URL) throws {
        let path = url.path
        try FileSafety.requireReadableFile(path, what: ".safetensors file")
        guard let size = FileSafety.size(path), let h = FileHandle(forReadingAtPath: path) else {
            throw FileError(.read, path: path, problem: "the file cannot be opened", fix: "check its permissions")
        }
        defer { try? h.close() }
        var prefix = (try? h.read(upToCount: 8)) ?? Data()
        if prefix.count == 8 {
            var n: UInt64 = 0
            for (i, b) in prefix.enumerated() { n |= UInt64(b) << (8 * UInt64(i)) }
            if n <= UInt64(maxHeaderBytes), Int(n) <= size - 8 { prefix += (try? h.read(upToCount: Int(n))) ?? Data() }
        }
        _ = try parseHeader(prefix, path: path, fileSize: size)
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        guard Double(size) <= memory * 0.75 else {
            throw FileError(.read, path: path, problem: String(format: "the file is %.1f GiB, more than this machine's %.1f GiB of memory can hold", Double(size) / 1073741824, memory / 1073741824),
                            fix: "use a smaller file")
        }
    }

    /// Parses safetensors bytes (header through `parseHeader`); `path` only names the source in error messages.
    public static func parse(_ data: Data, path: String) throws -> SafetensorsFile {
        let h = try parseHeader(data, path: path)
        struct Entry { let name: String; let dtype: DType; let begin: Int; let count: Int; let shape: [Int] }
        var entries: [Entry] = []
        for e in h.entries {
            guard let dtype = DType(rawValue: e.dtype) else {
                throw FileError(.read, path: path, problem: "tensor \(show(e.name)) has dtype \(show(e.dtype, quote: false)); the lab reads F32 only (F64, F16, BF16 are converted)",
                                fix: "convert the tensor to float32 before saving")
            }
            entries.append(Entry(name: e.name, dtype: dtype, begin: e.begin, count: e.count, shape: e.shape))
        }
        let dataStart = h.dataStart, metadata = h.metadata

        var tensors: [String: Tensor] = [:]
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress.map { $0 + dataStart }
            for e in entries {
                let t = Tensor(uninitializedShape: e.shape)
                if e.count > 0, let base { e.dtype.decode(base + e.begin, count: e.count, into: t.data) }
                tensors[e.name] = t
            }
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    // MARK: writing

    /// The file's bytes: F32 tensors sorted by name, contiguous, header padded to a multiple of 8.
    /// Throws when a tensor is named `__metadata__` (reserved by the format).
    public func encoded() throws -> Data {
        if tensors["__metadata__"] != nil {
            throw FileError(.write, path: "(safetensors)", problem: "a tensor is named '__metadata__', which the format reserves",
                            fix: "rename the tensor")
        }
        let names = tensors.keys.sorted()
        var json = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let kv = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(kv.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.count * 4
            parts.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        json += parts.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var out = Data(capacity: 8 + header.count + offset)
        var n = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for name in names {
            let t = tensors[name]!
            #if _endian(big)
            for i in 0..<t.count { var b = t.data[i].bitPattern.littleEndian; withUnsafeBytes(of: &b) { out.append(contentsOf: $0) } }
            #else
            out.append(UnsafeBufferPointer(start: t.data, count: t.count))
            #endif
        }
        return out
    }

    /// Writes `encoded()` to `url` atomically (parent directories are created).
    public func write(to url: URL) throws {
        let bytes: Data
        do { bytes = try encoded() } catch let e as FileError {
            throw FileError(.write, path: url.path, problem: e.problem, fix: e.fix)
        }
        try AtomicFile.write(bytes, to: url)
    }
}

// MARK: - dtypes

enum DType: String {
    case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16"

    var size: Int {
        switch self { case .f32: return 4; case .f64: return 8; case .f16, .bf16: return 2 }
    }

    /// Converts `count` little-endian values at `src` (any alignment) to Float32.
    func decode(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f64:
            for i in 0..<count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .bf16:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .f16:
            for i in 0..<count { dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        }
    }
}

/// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN payloads included).
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let man = UInt32(h & 0x3FF)
    if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
    if exp != 0 { return Float(bitPattern: sign | ((exp + 112) << 23) | (man << 13)) }
    // Zero or subnormal: man · 2^-24, exact in Float32.
    let v = Float(man) * Float(bitPattern: 0x3380_0000)  // 2^-24
    return sign != 0 ? -v : v
}

// MARK: - JSON helpers

/// An exact integer from a JSON number (nil for booleans, fractions, non-numbers and non-integral
/// or out-of-range values).
private func integer(_ v: Any) -> Int? {
    guard let num = v as? NSNumber else { return nil }
    if String(cString: num.objCType) == "c" { return nil }  // JSON true/false
    if let i = v as? Int { return i }
    let d = num.doubleValue
    guard d.isFinite, d.rounded() == d, abs(d) <= 9_007_199_254_740_992 else { return nil }
    return Int(d)
}

/// A name from the file, made safe for a one-line message (control characters escaped, long names cut).
private func show(_ s: String, quote: Bool = true) -> String {
    var out = ""
    for u in s.unicodeScalars.prefix(80) {
        if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
    }
    if s.unicodeScalars.count > 80 { out += "…" }
    return quote ? "'\(out)'" : out
}

private func describe(_ dims: [Any]) -> String {
    "[" + dims.map { show("\($0)", quote: false) }.joined(separator: ", ") + "]"
}

/// A JSON string literal for `s`.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}

/// Scans JSON bytes without building anything: rejects nesting deeper than `maxJSONDepth` (so the
/// real parser cannot run out of stack) and returns the decoded keys of the top-level object, in order.
/// Malformed input is left for JSONSerialization to reject; this scan only needs to stay in bounds.
private func scanTopLevelKeys(_ json: Data, fail: (String, String) -> FileError) throws -> [String] {
    var keys: [String] = []
    try json.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        let b = raw.bindMemory(to: UInt8.self)
        var depth = 0
        var i = 0
        var expectKey = false   // at depth 1, after '{' or ','
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let s = i
                i += 1
                while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                if depth == 1 && expectKey && i < b.count {
                    let lit = Data(UnsafeBufferPointer(rebasing: b[s...i]))
                    if let k = try? JSONSerialization.jsonObject(with: lit, options: [.fragmentsAllowed]) as? String { keys.append(k) }
                    expectKey = false
                }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > SafetensorsFile.maxJSONDepth {
                    throw fail("the header nests JSON deeper than \(SafetensorsFile.maxJSONDepth) levels", "the file is damaged or not a safetensors file; re-export it")
                }
                expectKey = depth == 1 && c == UInt8(ascii: "{")
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true }
            default: break
            }
            i += 1
        }
    }
    return keys
}
