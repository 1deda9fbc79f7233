/// The `KEY=value` lines of an env file, with their line numbers.
///
/// Accepts what operators write in `.env` files and systemd `EnvironmentFile=`s:
/// blank lines, `#` comments, an optional `export ` prefix, single- or
/// double-quoted values, and a trailing ` # comment` after an unquoted value
/// (the guide's profiles use those).
public struct EnvironmentFile: Sendable {
    /// One assignment of the file.
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let value: String
        public let line: Int
    }

    /// The path the entries were read from.
    public let path: String
    /// Assignments in file order; a key assigned twice keeps the last one in ``value(for:)``.
    public let entries: [Entry]

    /// Parses `text` as read from `path`.
    /// - Throws: ``ConfigurationError`` `.malformedFile` naming the line.
    public init(path: String, text: String) throws(ConfigurationError) {
        self.path = path
        var entries: [Entry] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if let entry = try Self.parse(line: rawLine, number: lineNumber, path: path) {
                entries.append(entry)
            }
        }
        self.entries = entries
    }

    /// Reads and parses the file at `path`.
    /// - Throws: ``ConfigurationError`` `.unreadableFile` or `.malformedFile`.
    public init(contentsOf path: String) throws(ConfigurationError) {
        guard let text = readTextFile(atPath: path) else {
            throw ConfigurationError(
                code: .unreadableFile, key: path, problem: "cannot be read",
                accepted: "a readable file of KEY=value lines")
        }
        try self.init(path: path, text: text)
    }

    /// The last entry that assigns `key`.
    public func entry(for key: String) -> Entry? {
        entries.last { $0.key == key }
    }

    private static func parse(line raw: Substring, number: Int, path: String) throws(ConfigurationError) -> Entry? {
        var line = raw.trimmingWhitespace()
        if line.isEmpty || line.hasPrefix("#") { return nil }
        if line.hasPrefix("export ") { line = line.dropFirst("export ".count).trimmingWhitespace() }
        guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
            throw malformed(path: path, line: number, "expected KEY=value")
        }
        let key = String(line[..<equals].trimmingWhitespace())
        guard key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw malformed(path: path, line: number, "'\(key)' is not a variable name")
        }
        let value = try parseValue(line[line.index(after: equals)...].trimmingWhitespace(), path: path, line: number)
        return Entry(key: key, value: value, line: number)
    }

    private static func parseValue(_ text: Substring, path: String, line: Int) throws(ConfigurationError) -> String {
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            // Unquoted: a `#` after white space starts a comment.
            var value = text
            if let hash = text.indices.first(where: { text[$0] == "#" && $0 > text.startIndex && text[text.index(before: $0)].isWhitespace }) {
                value = text[..<hash]
            }
            return String(value.trimmingWhitespace())
        }
        let body = text.dropFirst()
        guard let close = body.firstIndex(of: quote) else {
            throw malformed(path: path, line: line, "unterminated \(quote) quote")
        }
        let rest = body[body.index(after: close)...].trimmingWhitespace()
        guard rest.isEmpty || rest.hasPrefix("#") else {
            throw malformed(path: path, line: line, "text after the closing quote")
        }
        return String(body[..<close])
    }

    private static func malformed(path: String, line: Int, _ problem: String) -> ConfigurationError {
        ConfigurationError(code: .malformedFile, key: "\(path):\(line)", problem: problem, accepted: "KEY=value, KEY=\"value\" or a # comment")
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while result.first?.isWhitespace == true { result = result.dropFirst() }
        while result.last?.isWhitespace == true { result = result.dropLast() }
        return result
    }
}
