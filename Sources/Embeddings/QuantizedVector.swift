/// A unit vector stored as one signed byte per dimension (the largest
/// magnitude mapped to 127) and one scale that makes the stored direction a
/// unit vector again: a quarter of float32's size, and the same
/// recall on the evaluation sets (docs/retrieval.md). Its bytes are the scale
/// (float32, little-endian) followed by the dimensions.
public struct QuantizedVector: Sendable, Equatable {
    public let scale: Float
    public let values: [Int8]

    public init(_ vector: [Float]) {
        let largest = vector.reduce(0) { max($0, abs($1)) }
        let step = largest > 0 ? largest / 127 : 1
        values = vector.map { Int8(($0 / step).rounded().clamped(to: -127...127)) }
        let norm = values.reduce(0) { $0 + Float($1) * Float($1) }.squareRoot()
        scale = norm > 0 ? 1 / norm : 0
    }

    /// Reads ``bytes``' layout; nil when the length does not fit `dimensions`.
    public init?(bytes: [UInt8], dimensions: Int) {
        guard bytes.count == 4 + dimensions else { return nil }
        scale = Float(bitPattern: UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        values = bytes[4...].map { Int8(bitPattern: $0) }
    }

    public var bytes: [UInt8] {
        let bits = scale.bitPattern
        return [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)] + values.map { UInt8(bitPattern: $0) }
    }

    /// The cosine with the unit vector `query`.
    public func cosine(with query: [Float]) -> Float {
        var sum: Float = 0
        for index in 0..<min(values.count, query.count) { sum += Float(values[index]) * query[index] }
        return sum * scale
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
