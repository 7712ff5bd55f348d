import Testing
@testable import TSRec

@Test func openBLASReportsACore() {
    print(BLAS.summary)
    #expect(!BLAS.coreName.isEmpty)
}

@Test func coreTypeFollowsCPUFlags() {
    #expect(BLAS.recommendedCoreType(cpuinfo: "processor: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw\n") == "SkylakeX")
    #expect(BLAS.recommendedCoreType(cpuinfo: "flags : fpu sse2 avx avx2 avx512f\n") == "Haswell")   // no BW: not SkylakeX
    #expect(BLAS.recommendedCoreType(cpuinfo: "flags : fpu sse2 avx avx2\n") == "Haswell")
    #expect(BLAS.recommendedCoreType(cpuinfo: "flags : fpu sse2\n") == nil)
    #expect(BLAS.recommendedCoreType(cpuinfo: nil) == nil)
}

/// An inherited narrower kernel (this machine's environment exports Haswell on an AVX-512 CPU,
/// where SkylakeX runs sgemm twice as fast) is replaced; an explicit tsrec choice, an equal or
/// wider kernel, or a name outside the table is kept.
@Test func coreTypeChoiceReplacesOnlyANarrowerInheritedKernel() {
    let choose = { (env: [String: String], rec: String?) in BLAS.chosenCoreType(environment: env, recommended: rec) }
    #expect(choose([:], "SkylakeX").core == "SkylakeX")
    #expect(choose([:], nil).core == nil)
    let replaced = choose(["OPENBLAS_CORETYPE": "Haswell"], "SkylakeX")
    #expect(replaced.core == "SkylakeX" && replaced.note?.contains("TSREC_OPENBLAS_CORETYPE=Haswell") == true)
    #expect(choose(["OPENBLAS_CORETYPE": "Prescott"], "Haswell").core == "Haswell")
    #expect(choose(["OPENBLAS_CORETYPE": "Haswell", "TSREC_OPENBLAS_CORETYPE": "Haswell"], "SkylakeX") == ("Haswell", nil))
    #expect(choose(["OPENBLAS_CORETYPE": "SkylakeX"], "Haswell") == ("SkylakeX", nil))
    #expect(choose(["OPENBLAS_CORETYPE": "Zen"], "Haswell") == ("Zen", nil))
    #expect(choose(["OPENBLAS_CORETYPE": "NoSuchCore"], "SkylakeX") == ("NoSuchCore", nil))
    #expect(choose(["OPENBLAS_CORETYPE": "Haswell"], nil) == ("Haswell", nil))
}

/// OpenMP's threads sleep between oneDNN's products unless the environment says otherwise.
@Test func ompWaitPolicyIsPassiveUnlessSet() {
    #expect(BLAS.ompWaitPolicy(environment: [:]) == "passive")
    #expect(BLAS.ompWaitPolicy(environment: ["OMP_WAIT_POLICY": "active"]) == nil)
    // what the launch added is taken back for programs tsrec starts; the user's own value stays
    #expect(BLAS.userEnvironment(["OMP_WAIT_POLICY": "passive", BLAS.ompWaitPolicyMarker: "passive", "A": "1"]) == ["A": "1"])
    #expect(BLAS.userEnvironment(["OMP_WAIT_POLICY": "active", "A": "1"]) == ["OMP_WAIT_POLICY": "active", "A": "1"])
}

/// sgemm against a naive triple loop on odd shapes, through the same wrapper every op uses.
@Test(arguments: [(7, 13, 5), (1, 1, 1), (33, 17, 65), (64, 576, 3)])
func sgemmMatchesNaiveProduct(shape: (Int, Int, Int)) {
    let (m, k, n) = shape
    var rng = SplitMix64(seed: UInt64(m * 1000 + k * 10 + n))
    let a = (0..<(m * k)).map { _ in rng.nextGaussian() }, b = (0..<(k * n)).map { _ in rng.nextGaussian() }
    var c = [Float](repeating: 0, count: m * n)
    sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a, b: b, c: &c)
    var worst: Double = 0
    for i in 0..<m { for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
        worst = max(worst, abs(s - Double(c[i * n + j])) / max(1, abs(s)))
    } }
    #expect(worst < 1e-4, "worst relative error \(worst) at \(shape)")
}
