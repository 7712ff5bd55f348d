/// SplitMix64: a tiny, fast, fully reproducible generator (Steele, Lea & Flood 2014).
///
/// Every random draw in tsrec takes an `inout some RandomNumberGenerator`; a run makes one root
/// from `config.seed` and `fork()`s children in a fixed order, so each consumer (init, data
/// order, dropout) has its own stream and adding a consumer never shifts another's draws.
/// The whole state is one `UInt64`, which checkpoints store.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable, Codable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A new independent generator seeded from this one's next output.
    public mutating func fork() -> SplitMix64 { SplitMix64(seed: next() ^ 0xD1B5_4A32_D192_ED03) }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUniformFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal via Box-Muller (one value per call; simple and reproducible).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
