// The libFuzzer entry point over the harness SCRIBES_FUZZ_TARGET names
// (scripts/fuzz builds it with `-sanitize=fuzzer,address -DFUZZING`). A plain build
// gets a main that replays the inputs named on the command line instead.
import FoundationEssentials
import FuzzHarnesses
#if canImport(Glibc)
import Glibc
#endif

private let harness: FuzzHarness = {
    let name = getenv("SCRIBES_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let harness = FuzzHarness.named(name) else {
        fatalError("SCRIBES_FUZZ_TARGET must be one of \(FuzzHarness.all.map(\.name)), not '\(name)'")
    }
    return harness
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    harness.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

#if !FUZZING
@main
enum Replay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            harness.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            print("\(harness.name): \(path): no trap")
        }
    }
}
#endif
