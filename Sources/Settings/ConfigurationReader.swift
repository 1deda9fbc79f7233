/// Reads typed, validated values from the environment and an env file, and
/// remembers every value it handed out and where it came from (for
/// `check-config`).
///
/// The environment wins over the file; the file wins over the default.
/// Not thread-safe: configuration is read once, on one thread, at start or
/// reload.
public final class ConfigurationReader {
    /// Where a value came from.
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        case environment
        case file(path: String, line: Int)
        case defaultValue

        public var description: String {
            switch self {
            case .environment: "environment"
            case .file(let path, let line): "\(path):\(line)"
            case .defaultValue: "default"
            }
        }
    }

    /// One key as the configuration resolved it, with a secret's value masked.
    public struct ResolvedValue: Sendable, Equatable {
        public let key: String
        /// The value as it may be shown: secrets are masked, unset values are `(unset)`.
        public let displayValue: String
        public let origin: Origin
    }

    /// The placeholder shown instead of a secret.
    public static let mask = "********"

    private let environment: [String: String]
    private let file: EnvironmentFile?
    /// The env file's settings as `KEY=value` entries (for a child process's environment).
    public var fileSettings: [String] {
        file?.entries.map { "\($0.key)=\($0.value)" } ?? []
    }

    /// Every key read so far, in the order read.
    public private(set) var resolved: [ResolvedValue] = []

    /// - Parameters:
    ///   - environment: the process environment (the executable passes it in).
    ///   - file: the parsed env file, if any.
    public init(environment: [String: String], file: EnvironmentFile? = nil) {
        self.environment = environment
        self.file = file
    }

    // MARK: Raw lookup

    private func lookup(_ key: String) -> (value: String, origin: Origin)? {
        if let value = environment[key] { return (value, .environment) }
        if let entry = file?.entry(for: key) {
            return (entry.value, .file(path: file!.path, line: entry.line))
        }
        return nil
    }

    private func record(_ key: String, display: String, origin: Origin, secret: Bool) {
        let shown = secret && display != "(unset)" ? Self.mask : display
        resolved.removeAll { $0.key == key }
        resolved.append(ResolvedValue(key: key, displayValue: shown, origin: origin))
    }

    /// Reads `key`, converting a present value with `parse`. An empty value counts as unset.
    /// `accepted` describes the accepted values for the error message.
    private func read<Value>(
        _ key: String,
        default defaultValue: Value?,
        secret: Bool = false,
        accepted: String,
        display: (Value) -> String,
        parse: (String) -> Result<Value, Problem>
    ) throws(ConfigurationError) -> Value? {
        guard let (raw, origin) = lookup(key), !raw.isEmpty else {
            record(key, display: defaultValue.map(display) ?? "(unset)", origin: .defaultValue, secret: secret)
            return defaultValue
        }
        switch parse(raw) {
        case .success(let value):
            record(key, display: display(value), origin: origin, secret: secret)
            return value
        case .failure(let problem):
            let shown = secret ? "" : "'\(raw)' "
            throw ConfigurationError(code: .invalidValue, key: key, problem: "\(shown)\(problem.text) (from \(origin))", accepted: accepted)
        }
    }

    struct Problem: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    // MARK: Typed readers

    /// A string, or `defaultValue` when unset or empty.
    public func string(_ key: String, default defaultValue: String) -> String {
        (try? optionalString(key, default: defaultValue)) ?? defaultValue
    }

    /// A string that may stay unset. `secret` masks it in ``resolved``.
    public func optionalString(_ key: String, default defaultValue: String? = nil, secret: Bool = false, display: ((String) -> String)? = nil) throws(ConfigurationError) -> String? {
        try read(key, default: defaultValue, secret: secret, accepted: "any text", display: display ?? { $0 }) { .success($0) }
    }

    /// A string that must be set.
    public func requiredString(_ key: String, secret: Bool = false, accepted: String) throws(ConfigurationError) -> String {
        guard let value = try optionalString(key, secret: secret) else {
            throw ConfigurationError(code: .missingValue, key: key, problem: "is not set", accepted: accepted)
        }
        return value
    }

    /// An integer in `range`.
    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        try optionalInt(key, default: defaultValue, in: range)!
    }

    /// An integer in `range` that may stay unset.
    public func optionalInt(_ key: String, default defaultValue: Int? = nil, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        try read(key, default: defaultValue, accepted: "an integer in \(range.lowerBound)...\(range.upperBound)", display: String.init) { raw in
            guard let value = Int(raw) else { return .failure(Problem("is not an integer")) }
            guard range.contains(value) else { return .failure(Problem("is out of range")) }
            return .success(value)
        }
    }

    /// A decimal number in `range` (an infinite upper bound means no maximum).
    public func double(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        try optionalDouble(key, default: defaultValue, in: range)!
    }

    /// A decimal number in `range` that may stay unset.
    public func optionalDouble(_ key: String, default defaultValue: Double? = nil, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        let accepted = range.upperBound.isInfinite
            ? "a number of at least \(range.lowerBound)"
            : "a number in \(range.lowerBound)...\(range.upperBound)"
        return try read(key, default: defaultValue, accepted: accepted, display: { "\($0)" }) { raw in
            guard let value = Double(raw), value.isFinite else { return .failure(Problem("is not a number")) }
            guard range.contains(value) else { return .failure(Problem("is out of range")) }
            return .success(value)
        }
    }

    /// A boolean: true/false, yes/no, on/off or 1/0, in any case.
    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        try read(key, default: defaultValue, accepted: "true or false", display: { "\($0)" }) { raw in
            switch raw.lowercased() {
            case "true", "yes", "on", "1": .success(true)
            case "false", "no", "off", "0": .success(false)
            default: .failure(Problem("is not a boolean"))
            }
        }!
    }

    /// A `key=value,key2=value2` list (the OTel SDK's form for headers and
    /// resource attributes), in order; values may be percent-encoded.
    public func pairs(_ key: String, secret: Bool = false) throws(ConfigurationError) -> [KeyValue] {
        try read(key, default: [], secret: secret, accepted: "key=value pairs separated by commas", display: { pairs in
            pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        }) { raw in
            var pairs: [KeyValue] = []
            for item in raw.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1)
                let name = parts.first.map { String($0.trimmingWhitespace()) } ?? ""
                guard parts.count == 2, !name.isEmpty, let value = Self.percentDecoded(String(parts[1].trimmingWhitespace())) else {
                    return .failure(Problem("is not a list of key=value pairs"))
                }
                pairs.append(KeyValue(key: name, value: value))
            }
            return .success(pairs)
        }!
    }

    /// `%XX` escapes decoded; nil when one is malformed or the result is not UTF-8.
    static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var input = text.utf8.makeIterator()
        while let byte = input.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = input.next(), let low = input.next(), let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// One of a fixed set of words, matched without regard to case.
    public func choice<Value: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: Value) throws(ConfigurationError) -> Value
    where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        return try read(key, default: defaultValue, accepted: "one of " + names.joined(separator: ", "), display: \.rawValue) { raw in
            Value(rawValue: raw.lowercased()).map { .success($0) } ?? .failure(Problem("is not a known value"))
        }!
    }
}

/// One `key=value` of a list setting.
public struct KeyValue: Sendable, Equatable {
    public let key: String
    public let value: String
}
