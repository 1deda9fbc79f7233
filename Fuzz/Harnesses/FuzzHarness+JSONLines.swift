#if canImport(Glibc)
import Glibc
#endif
import Store

extension FuzzHarness {
    /// The `library import` and `notes import` files, read line by line and
    /// each line decoded and checked: one result per non-blank line, invalid
    /// lines numbered in order.
    package static let jsonLines = FuzzHarness(name: "json-lines") { bytes in
        guard !bytes.isEmpty else { return }
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
        check(JSONLinesImporter<ScriptureVerse>.self, bytes, lines: lines)
        check(JSONLinesImporter<NoteDraft>.self, bytes, lines: lines)
    }

    private static func check<Record>(_ importer: JSONLinesImporter<Record>.Type, _ bytes: [UInt8], lines: Int) {
        var bytes = bytes
        bytes.withUnsafeMutableBytes { buffer in
            guard let stream = fmemopen(buffer.baseAddress, buffer.count, "r") else { fatalError("fmemopen: \(errno)") }
            let file = JSONLinesFile(path: "fuzz.jsonl", file: stream)
            defer { file.close() }
            var results = 0
            var lastInvalid = 0
            for result in importer.records(in: file) {
                results += 1
                if case .failure(let invalid) = result {
                    precondition(invalid.line > lastInvalid && invalid.line <= lines, "\(invalid) after line \(lastInvalid) of \(lines)")
                    lastInvalid = invalid.line
                }
            }
            precondition(results <= lines, "\(results) records from \(lines) lines")
        }
    }
}
