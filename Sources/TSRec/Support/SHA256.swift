import Crypto
import Foundation

/// SHA-256, streaming, as a thin layer over swift-crypto (`Crypto.SHA256`).
///
/// Why swift-crypto: downloads and unpacked files are verified against the sha256 sums the
/// upstream projects publish, so the digest must match `sha256sum` bit for bit. swift-crypto is
/// Apple's maintained implementation (BoringSSL underneath, with its SHA-NI / AVX2 assembly on
/// x86-64), so the project no longer carries and reviews its own compression loops; the price
/// is a longer first build (BoringSSL's C sources), paid once per build folder. The tests pin
/// the FIPS vectors, padding edge cases and a mirror archive.
///
/// ```swift
/// var h = SHA256()
/// h.update(Data("ab".utf8)); h.update(Data("c".utf8))
/// h.finalize()   // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// ```
public struct SHA256: @unchecked Sendable {   // a value: Crypto's context is copied on write
    private var hasher = Crypto.SHA256()

    public init() {}

    /// Feeds bytes; may be called any number of times with chunks of any size.
    public mutating func update(_ data: Data) { hasher.update(data: data) }

    public mutating func update(_ bytes: [UInt8]) { hasher.update(data: bytes) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    /// The 32-byte digest.
    public mutating func finalizeBytes() -> [UInt8] { Array(hasher.finalize()) }

    /// The digest as 64 lowercase hex characters (the `sha256sum` format).
    public mutating func finalize() -> String { hexString(finalizeBytes()) }

    /// One-shot digest of in-memory bytes.
    public static func hash(_ data: Data) -> String { hexString(Array(Crypto.SHA256.hash(data: data))) }

    /// Streams a file through the hash in 1 MiB reads (never loads the whole file).
    public static func hash(fileAt url: URL) throws -> String {
        var h = SHA256()
        try forEachChunk(of: url) { h.update($0) }
        return h.finalize()
    }
}

/// SHA-1, only for git blob ids: GitHub's tree listing gives each file's
/// `sha1("blob <size>\0" + bytes)`, the one checksum known for files whose sha256 nobody
/// published (the Office train split). Not for anything security-related (hence swift-crypto's
/// `Insecure.SHA1`).
public struct SHA1: @unchecked Sendable {    // a value: Crypto's context is copied on write
    private var hasher = Insecure.SHA1()

    public init() {}

    public mutating func update(_ data: Data) { hasher.update(data: data) }
    public mutating func update(_ bytes: [UInt8]) { hasher.update(data: bytes) }
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    /// The digest as 40 lowercase hex characters.
    public mutating func finalize() -> String { hexString(Array(hasher.finalize())) }

    public static func hash(_ data: Data) -> String { hexString(Array(Insecure.SHA1.hash(data: data))) }

    /// git's blob id of a file: `sha1("blob \(size)\0" + contents)` (what `git hash-object` prints).
    public static func gitBlobID(fileAt url: URL) throws -> String {
        let size: Int
        do {
            size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw TSRecError(.io(path: url.path, reason: "cannot read: \(error.localizedDescription)"))
        }
        var s = SHA1()
        s.update(Array("blob \(size)\0".utf8))
        try forEachChunk(of: url) { s.update($0) }
        return s.finalize()
    }
}

/// Lowercase hex of bytes.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Calls `body` with consecutive chunks (up to 1 MiB) of a file, read with `read(2)`.
func forEachChunk(of url: URL, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else {
        throw TSRecError(.io(path: url.path, reason: "cannot open: \(String(cString: strerror(errno)))"))
    }
    defer { close(fd) }
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    defer { buf.deallocate() }
    while true {
        let n = read(fd, buf.baseAddress, chunkSize)
        if n < 0 {
            if errno == EINTR { continue }
            throw TSRecError(.io(path: url.path, reason: "read failed: \(String(cString: strerror(errno)))"))
        }
        if n == 0 { break }
        try body(UnsafeRawBufferPointer(start: buf.baseAddress, count: n))
    }
}
