/// The unit conversions the C libraries, Redis scripts and logs want, written
/// once: Swift's `Duration` gives only (seconds, attoseconds) components.
extension Duration {
    /// Whole milliseconds, truncated (what libcurl's and poll's millisecond arguments take).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds, truncated (NIO's `TimeAmount`).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Seconds with their fraction (JSON durations, histograms).
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Whole seconds, rounded up (Retry-After).
    public var secondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        return seconds + (attoseconds > 0 ? 1 : 0)
    }
}
