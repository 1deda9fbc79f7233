import Foundation
import PackagePlugin

/// Generates `ScribesVersion.current` from the newest entry of
/// packaging/debian/changelog, so that `scribes-assistant --version` and the
/// package's version are one value kept in one place.
@main
struct VersionFromChangelog: BuildToolPlugin {
    /// Prints the version between the parentheses of the changelog's first line,
    /// or fails the build when there is none.
    private static let script = #"""
        version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$1")
        if [ -z "$version" ]; then echo "$1: no version on the first line" >&2; exit 1; fi
        printf '/// The package version, generated from packaging/debian/changelog.\nenum ScribesVersion {\n    static let current = "%s"\n}\n' "$version" > "$2"
        """#

    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let changelog = context.package.directoryURL.appending(path: "packaging/debian/changelog")
        let output = context.pluginWorkDirectoryURL.appending(path: "ScribesVersion.swift")
        return [
            .buildCommand(
                displayName: "Reading the version from packaging/debian/changelog",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", Self.script, "sh", changelog.path, output.path],
                inputFiles: [changelog],
                outputFiles: [output])
        ]
    }
}
