import Tracing

/// What identifies a span across processes: the W3C Trace Context
/// (`traceparent: 00-{trace id}-{span id}-{flags}`), carried in a task's
/// `InstrumentationContext` so that children and outgoing requests inherit it.
public struct SpanContext: Sendable, Equatable {
    /// 16 bytes, never all zero.
    public let traceID: [UInt8]
    /// 8 bytes, never all zero.
    public let spanID: [UInt8]
    /// Whether the trace is recorded (the `sampled` flag).
    public let sampled: Bool

    init(traceID: [UInt8], spanID: [UInt8], sampled: Bool) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    /// A fresh span id in `traceID`, or in a new trace.
    static func child(of parent: SpanContext?, sampled: (_ traceID: [UInt8]) -> Bool) -> SpanContext {
        let traceID = parent?.traceID ?? randomID(bytes: 16)
        return SpanContext(traceID: traceID, spanID: randomID(bytes: 8), sampled: sampled(traceID))
    }

    /// The `traceparent` header's value.
    public var traceparent: String {
        "00-\(Self.hex(traceID))-\(Self.hex(spanID))-\(sampled ? "01" : "00")"
    }

    /// Reads a `traceparent`; nil when it is not one (a malformed header starts a new trace).
    public init?(traceparent: String) {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[0] != "00" || parts.count == 4,
              let traceID = Self.bytes(hex: parts[1], count: 16), let spanID = Self.bytes(hex: parts[2], count: 8),
              let flags = Self.bytes(hex: parts[3], count: 1), Self.bytes(hex: parts[0], count: 1) != nil,
              traceID.contains(where: { $0 != 0 }), spanID.contains(where: { $0 != 0 })
        else { return nil }
        self.init(traceID: traceID, spanID: spanID, sampled: flags[0] & 1 == 1)
    }

    static func randomID(bytes count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        while true {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if bytes.contains(where: { $0 != 0 }) { return bytes }
        }
    }

    /// Lower-case hex, as W3C Trace Context and OTLP's JSON mapping write ids.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: text, as: UTF8.self)
    }

    static func bytes(hex: Substring, count: Int) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == count * 2 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// A lower-case hex digit's value (W3C Trace Context forbids upper case).
    static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

enum SpanContextKey: InstrumentationContextKey {
    typealias Value = SpanContext
}

extension InstrumentationContext {
    /// The current span's identity, or a remote parent's read from `traceparent`.
    public var spanContext: SpanContext? {
        get { self[SpanContextKey.self] }
        set { self[SpanContextKey.self] = newValue }
    }
}
