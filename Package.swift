// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "denoise",
    // Swift 6 language mode; Synchronization's Mutex and Atomic (the locks behind the Sendable types) need macOS 15.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "denoise", targets: ["denoise"]),
        .library(name: "DenoiseKit", targets: ["DenoiseKit"]),
        // libdenoise-ladspa.so: the real-time denoiser as a LADSPA plugin for PipeWire, PulseAudio, sox.
        .library(name: "denoise-ladspa", type: .dynamic, targets: ["DenoiseLADSPA"]),
    ],
    targets: [
        // FFTW single precision: every FFT in the project goes through it (DSP/ only).
        .systemLibrary(name: "CFFTW3", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // OpenBLAS: matrix products (NN/ only).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // LADSPA's plugin API, a header only (Debian's ladspa-sdk): no library to link.
        .systemLibrary(name: "CLADSPA", providers: [.apt(["ladspa-sdk"])]),
        .target(name: "DenoiseKit", dependencies: ["CFFTW3", "COpenBLAS"]),
        // The LADSPA entry points; hosts dlopen the product, so it must carry the Swift runtime (see README).
        .target(name: "DenoiseLADSPA", dependencies: ["DenoiseKit", "CLADSPA"]),
        .executableTarget(name: "denoise", dependencies: ["DenoiseKit"]),
        // libFuzzer harness for the WAV and model-file parsers (.ci/fuzz); a plain file runner in normal builds.
        .executableTarget(name: "denoise-fuzz", dependencies: ["DenoiseKit"]),
        .testTarget(name: "DenoiseKitTests", dependencies: ["DenoiseKit"]),
        // End-to-end tests run the built `denoise` executable; the dependency makes sure it is built first.
        .testTarget(name: "DenoiseCLITests", dependencies: ["denoise", "DenoiseKit"], exclude: ["Snapshots"]),
        // The plugin through its C entry points in process, and the built .so hosted by sox (with `denoise apply`
        // to compare); `swift build` makes the .so, which a test target cannot name as a dependency.
        .testTarget(name: "DenoiseLADSPATests", dependencies: ["DenoiseLADSPA", "DenoiseKit", "CLADSPA", "denoise"]),
    ],
    swiftLanguageModes: [.v6]
)
