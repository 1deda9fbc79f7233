import Foundation
import Testing
import TestSupport

/// What the Debian package ships beside the binary: the env file template and
/// the version, checked against the real binary (scripts/test-package checks
/// the installed package itself).
@Suite struct PackagingTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theShippedEnvFileIsValidAndListsEveryKey() throws {
        let template = Self.repository.appendingPathComponent("etc/scribes-assistant.env").path
        // The package fills JWT_SECRET in at install; the rest is as shipped.
        let output = try ProcessRunner.scribes(
            ["check-config", "--env-file", template], environment: ["JWT_SECRET": "packaged-secret-0123456789abcdef0123"])
        #expect(output.status == 0, "\(output.standardError)")
        // Lines "KEY   = value  (origin)"; a closing summary line is not a key.
        let keys = output.standardOutput.split(separator: "\n").compactMap { line -> String? in
            guard let word = line.split(separator: " ").first, word.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else { return nil }
            return String(word)
        }
        #expect(keys.count > 40)
        let lines = try String(contentsOfFile: template, encoding: .utf8).split(separator: "\n")
        for key in keys {
            #expect(lines.contains { $0.hasPrefix("\(key)=") || $0.hasPrefix("#\(key)=") }, "\(key) is missing from etc/scribes-assistant.env")
        }
    }

    @Test func versionIsTheNewestChangelogEntry() throws {
        let changelog = try String(contentsOf: Self.repository.appendingPathComponent("packaging/debian/changelog"), encoding: .utf8)
        let firstLine = try #require(changelog.split(separator: "\n").first)
        let version = try #require(firstLine.split(separator: "(").dropFirst().first?.split(separator: ")").first)
        let output = try ProcessRunner.scribes(["--version"])
        #expect(output.status == 0)
        #expect(output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == String(version))
    }

    /// scripts/lib/release-checks.sh on binaries made for it: one that
    /// carries ICU's data archive (named as ICU names it, stripped as the
    /// package ships) is refused, saying why; the same program without it passes.
    /// (clang: the Swift toolchain's own, so no package to install.)
    @Test func theReleaseCheckRefusesABinaryThatCarriesICU() throws {
        let scratch = try ProcessRunner.emptyDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for (name, data) in [("clean", "nothing"), ("icu", "icudt76l/coll/root.res")] {
            let source = "\(scratch)/\(name).c"
            try "__attribute__((used)) static const char data[] = \"\(data)\"; int main(void) { return 0; }\n".write(toFile: source, atomically: false, encoding: .utf8)
            let compiled = try ProcessRunner.run("/usr/bin/env", ["clang", "-s", "-o", "\(scratch)/\(name)", source])
            try #require(compiled.status == 0, "\(compiled.standardError)")
        }
        func check(_ binary: String) throws -> ProcessOutput {
            try ProcessRunner.run("/bin/bash", ["-c", ". scripts/lib/release-checks.sh && check_release_binary \"$1\"", "check", binary], directory: Self.repository.path)
        }
        let clean = try check("\(scratch)/clean")
        #expect(clean.status == 0, "\(clean.standardError)")
        let icu = try check("\(scratch)/icu")
        #expect(icu.status != 0)
        #expect(icu.standardError.contains("contains Foundation's ICU"), "\(icu.standardError)")
    }
}
