// swift-tools-version:6.0
// Scion: the whole life of pretrained transformer language models, in Swift.
// Module order (one way): ScionTensor ← ScionCheckpoint, ScionTokenizers ← … ← ScionCLI.
import PackageDescription

let package = Package(
    name: "Scion",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "ScionTensor", targets: ["ScionTensor"]),
        .library(name: "ScionCheckpoint", targets: ["ScionCheckpoint"]),
        .library(name: "ScionTokenizers", targets: ["ScionTokenizers"]),
        .library(name: "ScionNN", targets: ["ScionNN"]),
        .library(name: "ScionModels", targets: ["ScionModels"]),
        .library(name: "ScionData", targets: ["ScionData"]),
        .library(name: "ScionOptim", targets: ["ScionOptim"]),
        .library(name: "ScionAdapters", targets: ["ScionAdapters"]),
        .library(name: "ScionTraining", targets: ["ScionTraining"]),
        .library(name: "ScionGrowth", targets: ["ScionGrowth"]),
        .executable(name: "scion", targets: ["ScionCLI"]),
        .executable(name: "scion-bench", targets: ["ScionBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C only for kernels Swift cannot make fast (AVX-512 needs per-function target attributes);
        // each file says why.
        .target(name: "CScionKernels"),
        .target(name: "ScionTensor", dependencies: ["CScionKernels"]),
        .target(name: "ScionCheckpoint", dependencies: ["ScionTensor"]),
        .target(name: "ScionTokenizers"),
        .target(name: "ScionNN", dependencies: ["ScionTensor", "CScionKernels"]),
        .target(name: "ScionModels", dependencies: ["ScionNN", "ScionCheckpoint", "ScionTokenizers"]),
        .target(name: "ScionData", dependencies: ["ScionTokenizers", "ScionTensor"]),
        .target(name: "ScionOptim", dependencies: ["ScionNN"]),
        .target(name: "ScionAdapters", dependencies: ["ScionModels", "ScionOptim"]),
        .target(name: "ScionTraining", dependencies: ["ScionModels", "ScionOptim", "ScionData", "Yams"]),
        .target(name: "ScionGrowth", dependencies: ["ScionModels", "ScionNN", "ScionTensor", "ScionTokenizers", "ScionTraining",
                                                   "ScionData", "ScionCheckpoint"]),
        .target(name: "ScionTestSupport", dependencies: ["ScionTensor"]),
        .executableTarget(
            name: "ScionCLI",
            dependencies: [
                "ScionTensor", "ScionCheckpoint", "ScionTokenizers", "ScionNN", "ScionModels", "ScionAdapters", "ScionTraining",
                "ScionGrowth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Benchmarks: never run by `swift test`; `swift run -c release scion-bench`.
        .executableTarget(name: "ScionBench",
                          dependencies: ["ScionTensor", "ScionCheckpoint", "ScionTokenizers", "ScionNN", "ScionModels",
                                         "ScionOptim", "ScionData", "ScionTraining", "ScionGrowth", "ScionAdapters"]),
        .testTarget(name: "ScionTensorTests", dependencies: ["ScionTensor", "ScionTestSupport"]),
        .testTarget(name: "ScionCheckpointTests", dependencies: ["ScionCheckpoint", "ScionTestSupport"]),
        .testTarget(name: "ScionTokenizersTests", dependencies: ["ScionTokenizers"]),
        .testTarget(name: "ScionNNTests", dependencies: ["ScionNN", "ScionTestSupport"]),
        .testTarget(name: "ScionModelsTests", dependencies: ["ScionModels", "ScionTestSupport"]),
        .testTarget(name: "ScionDataTests", dependencies: ["ScionData"]),
        .testTarget(name: "ScionOptimTests", dependencies: ["ScionOptim", "ScionTestSupport"]),
        .testTarget(name: "ScionAdaptersTests", dependencies: ["ScionAdapters", "ScionTestSupport", "ScionOptim"]),
        .testTarget(name: "ScionTrainingTests", dependencies: ["ScionTraining", "ScionCheckpoint"]),
        .testTarget(name: "ScionGrowthTests", dependencies: ["ScionGrowth", "ScionModels", "ScionNN", "ScionTensor", "ScionTestSupport",
                                                           "ScionTraining", "ScionData", "ScionCheckpoint", "ScionOptim"]),
        .testTarget(name: "ScionCLITests"),
    ],
    swiftLanguageModes: [.v6]
)
