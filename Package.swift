// swift-tools-version:6.0
// tsrec: a CPU reproduction harness for TS-Rec (arXiv 2602.22632).
// One library (Sources/TSRec, folders in pipeline order), six C shims, one executable per
// paper table or ablation under Reproductions/, and the `tsrec` / `tsrec-bench` tools.
import PackageDescription

/// Every Reproductions/<name>/main.swift becomes an executable of that name.
let reproductions = ["table2", "baselines", "ablation-no-sainit", "ablation-no-tsalign", "ablation-init", "seeds"]

let package = Package(
    name: "tsrec",
    products: [
        .library(name: "TSRec", targets: ["TSRec"]),
        .executable(name: "tsrec", targets: ["tsrec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.20.0"),
        // SHA-256 / SHA-1 for download and file checks (Sources/TSRec/Support/SHA256.swift).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive"),
        // glibc's mallopt (Support/Launch.swift: freed memory stays with the process).
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // Open MPI for data-parallel runs under `mpirun` (docs/mpi.md); `make` installs it.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // oneDNN's matmul for the opt-in bf16 products (Tensor/BF16Matmul.swift); `make` installs it.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(
            name: "CGnuplot",
            path: "Sources/CGnuplot",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [
                .linkedLibrary("boost_iostreams"),
                .linkedLibrary("boost_system"),
                .linkedLibrary("boost_filesystem"),
                .linkedLibrary("stdc++"),
            ]
        ),
        .target(
            name: "TSRec",
            dependencies: ["COpenBLAS", "CArchive", "CMalloc", "CMPI", "CDNNL", "CGnuplot", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/TSRec",
            swiftSettings: [.define("TSREC_CHECKS", .when(configuration: .debug))]
        ),
        .executableTarget(
            name: "tsrec",
            dependencies: ["TSRec", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/tsrec",
            // main.swift holds `@main`; with more files in the target Swift needs this flag.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "tsrec-bench",
            dependencies: ["TSRec"],
            path: "Tools/tsrec-bench"
        ),
        .testTarget(
            name: "TSRecTests",
            dependencies: ["TSRec", "CMalloc", .product(name: "FlyingFox", package: "FlyingFox")],
            path: "Tests/TSRecTests",
            resources: [.copy("Fixtures")]
        ),
    ] + reproductions.map { name in
        .executableTarget(name: name, dependencies: ["TSRec"], path: "Reproductions/\(name)")
    }
)
