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
}
