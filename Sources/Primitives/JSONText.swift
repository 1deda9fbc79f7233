/// JSON text written by hand where the shape is fixed and the order of keys
/// matters: the API's answers, log lines, OTLP/JSON.
public enum JSONText {
    /// `text` as a JSON string literal.
    public static func string(_ text: String) -> String {
        var literal = ""
        literal.reserveCapacity(text.utf8.count + 2)
        append(text, to: &literal)
        return literal
    }

    /// Appends `text` as a JSON string literal (RFC 8259 §7): quote, backslash and
    /// control characters escaped, and DEL, U+2028 and U+2029 too, so that a
    /// value never breaks a log line or a script that embeds it.
    public static func append(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value):
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    /// `value` rounded to `decimals` places (see ``Swift/Double/formatted(decimals:)``).
    public static func number(_ value: Double, decimals: Int) -> String {
        value.formatted(decimals: decimals)
    }
}

extension Double {
    /// The value rounded to `decimals` places, in the shortest form that reads
    /// back as that (`3.2`, not `3.200000047683716` or `3.20`); non-finite values become 0.
    public func formatted(decimals: Int) -> String {
        guard isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        return "\((self * scale).rounded() / scale)"
    }
}
