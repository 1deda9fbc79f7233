/// A libFuzzer harness: runs one input through code that reads untrusted
/// bytes and traps when an invariant breaks, so that libFuzzer keeps the
/// input as a crash. `scripts/fuzz` runs each for a bounded time; the
/// corpus in `Fuzz/Corpus/{name}/`, found crashes included, is replayed by
/// `swift test` (FuzzHarnessesTests).
package struct FuzzHarness: Sendable {
    /// The name `SCRIBES_FUZZ_TARGET` and the corpus folder use.
    package let name: String
    package let run: @Sendable ([UInt8]) -> Void

    package static let all: [FuzzHarness] = [.requestBody, .respReader, .jsonLines]

    package static func named(_ name: String) -> FuzzHarness? {
        all.first { $0.name == name }
    }
}
