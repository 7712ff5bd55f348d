import Foundation

/// A complete, versioned training checkpoint: everything needed to continue a run so that it
/// ends bit-identical to an uninterrupted one (weights, optimizer moments, step, data cursor,
/// RNG state, early-stopping state, and the hash of the configuration it belongs to).
///
/// File layout (little-endian):
/// ```
/// "TSRC" magic | UInt32 version | UInt64 header byte count | header JSON | tensor bytes…
/// ```
/// The header lists each tensor's name and element count, in the order their raw Float32
/// values follow. Files are written to a temporary sibling and renamed, so a run killed while
/// saving leaves the previous checkpoint intact.
public struct Checkpoint {
    public static let magic: [UInt8] = Array("TSRC".utf8)
    public static let version: UInt32 = 1

    public struct Header: Codable, Sendable, Equatable {
        /// Hash of the run's configuration; a checkpoint of another configuration is refused.
        public var configHash: String
        /// Optimizer steps completed.
        public var step: Int
        /// Micro-batches consumed in the current epoch, and the epoch.
        public var epoch: Int
        public var cursor: Int
        /// State of the data-order RNG at the start of `epoch` (replayed to rebuild the order).
        public var epochRNG: SplitMix64
        /// Other run state: dropout RNG, best validation loss, evaluations without improvement.
        public var dropoutRNG: SplitMix64
        public var bestValidLoss: Double?
        public var evalsWithoutImprovement: Int
        public var stopped: Bool
        /// AdamW's step count (bias correction).
        public var optimizerStep: Int
        public var tensorNames: [String]
        public var tensorCounts: [Int]
    }

    /// Where a saved tensor's values come from: a live tensor, or an array (optimizer moments).
    public enum Source {
        case tensor(Tensor)
        case array([Float])
        var count: Int {
            switch self { case let .tensor(t): t.count; case let .array(a): a.count }
        }
    }

    /// The header as stored: JSON with sorted keys, so the same state always gives the same
    /// bytes (two identical runs write byte-identical checkpoints; a file hash means something).
    static func headerJSON(_ header: Header) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(header)
    }

    /// Writes `tensors` (name, values) after the header, atomically.
    public static func save(_ header: Header, tensors: [(String, Source)], to url: URL) throws {
        var header = header
        header.tensorNames = tensors.map(\.0)
        header.tensorCounts = tensors.map(\.1.count)
        let json = try headerJSON(header)
        // Temporary sibling + fsync + rename (AtomicFile): a run killed while saving, or a full
        // disk, leaves the previous checkpoint intact and no partial file under the final name.
        try AtomicFile.write(to: url) { put in
            var ok = magic.withUnsafeBytes { put($0) }
            ok = ok && withUnsafeBytes(of: version.littleEndian) { put($0) }
            ok = ok && withUnsafeBytes(of: UInt64(json.count).littleEndian) { put($0) }
            ok = ok && json.withUnsafeBytes { put($0) }
            for (_, source) in tensors where ok {
                switch source {
                case let .tensor(t): ok = t.withUnsafeBufferPointer { put(UnsafeRawBufferPointer($0)) }
                case let .array(a): ok = a.withUnsafeBytes { put($0) }
                }
            }
        }
    }

    /// Reads the header only (cheap), validating magic and version.
    public static func readHeader(_ url: URL) throws -> (Header, dataOffset: Int) {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw TSRecError(.checkpoint(path: url.path, reason: "cannot open"))
        }
        defer { try? handle.close() }
        let fixed = handle.readData(ofLength: 16)
        guard fixed.count == 16, Array(fixed.prefix(4)) == magic else {
            throw TSRecError(.checkpoint(path: url.path, reason: "not a tsrec checkpoint (bad magic)"),
                             hint: "delete the file; the run restarts from its previous checkpoint or from scratch")
        }
        let version = fixed.subdata(in: 4..<8).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard version == Self.version else {
            throw TSRecError(.checkpoint(path: url.path, reason: "version \(version), this build reads \(Self.version)"),
                             hint: "delete the run folder to retrain with this version")
        }
        let length = fixed.subdata(in: 8..<16).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length < 1 << 26 else { throw TSRecError(.checkpoint(path: url.path, reason: "header length \(length) is corrupt")) }
        let json = handle.readData(ofLength: Int(length))
        guard json.count == Int(length) else { throw TSRecError(.checkpoint(path: url.path, reason: "truncated header")) }
        do {
            return (try JSONDecoder().decode(Header.self, from: json), 16 + Int(length))
        } catch {
            throw TSRecError(.checkpoint(path: url.path, reason: "unreadable header: \(error)"))
        }
    }

    /// Reads the header, fills the tensors named in `tensors` in place (counts checked), and
    /// returns every other stored entry as an array (e.g. optimizer moments).
    public static func load(_ url: URL, tensors: [String: Tensor]) throws -> (Header, arrays: [String: [Float]]) {
        let (header, offset) = try readHeader(url)
        for name in tensors.keys where !header.tensorNames.contains(name) {
            throw TSRecError(.checkpoint(path: url.path, reason: "has no tensor \(name)"),
                             hint: "the checkpoint belongs to another model shape; delete the run folder to retrain")
        }
        guard let file = fopen(url.path, "rb") else { throw TSRecError(.checkpoint(path: url.path, reason: "cannot open")) }
        defer { fclose(file) }
        fseek(file, offset, SEEK_SET)
        var arrays: [String: [Float]] = [:]
        for (name, count) in zip(header.tensorNames, header.tensorCounts) {
            let read: Int
            if let t = tensors[name] {
                guard t.count == count else {
                    throw TSRecError(.checkpoint(path: url.path, reason: "tensor \(name): \(count) values, model has \(t.count)"))
                }
                read = t.withUnsafeMutableBufferPointer { count == 0 ? 0 : fread($0.baseAddress!, 4, count, file) }
            } else {
                var a = [Float](repeating: 0, count: count)
                read = a.withUnsafeMutableBufferPointer { count == 0 ? 0 : fread($0.baseAddress!, 4, count, file) }
                arrays[name] = a
            }
            guard read == count else {
                throw TSRecError(.checkpoint(path: url.path, reason: "truncated in tensor \(name)"),
                                 hint: "delete the file; the run restarts from scratch")
            }
        }
        return (header, arrays)
    }
}
