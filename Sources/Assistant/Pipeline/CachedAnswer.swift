import FoundationEssentials
import Limits

/// An answer as the cache keeps it: one header line
/// `2 {cost, micro-USD} {created, Unix s} {query tokens} {context tokens} {output tokens} {estimated 0|1} {provider}`,
/// then the rendered answer's JSON. Read back without a JSON parser.
/// (Format 1, which earlier versions wrote, had the cost in decimal USD: still read.)
struct CachedAnswer: Equatable {
    let answer: RenderedAnswer
    /// What the answer cost when it was computed (what serving it again saves).
    let cost: MicroUSD
    let createdAt: Int

    init(_ answer: RenderedAnswer, cost: MicroUSD, createdAt: Int = Int(Date().timeIntervalSince1970)) {
        self.answer = answer
        self.cost = cost
        self.createdAt = createdAt
    }

    /// nil for an entry this version cannot read (it is then recomputed and replaced).
    init?(decoding entry: String) {
        guard let newline = entry.utf8.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let header = entry[..<newline].split(separator: " ", maxSplits: 7)
        guard header.count == 8, let cost = Self.cost(format: header[0], header[1]), let created = Int(header[2]),
            let query = Int(header[3]), let context = Int(header[4]), let output = Int(header[5]), let estimated = Int(header[6])
        else { return nil }
        let json = String(entry[entry.utf8.index(after: newline)...])
        guard json.hasPrefix("{"), json.hasSuffix("}") else { return nil }
        answer = RenderedAnswer(
            json: json, provider: String(header[7]), queryTokens: query, contextTokens: context, outputTokens: output, costEstimated: estimated == 1)
        self.cost = cost
        createdAt = created
    }

    static func cost(format: Substring, _ text: Substring) -> MicroUSD? {
        switch format {
        case "2": Int(text).map(MicroUSD.init)
        case "1": Double(text).map { MicroUSD(roundingUp: $0) }
        default: nil
        }
    }

    var encoded: String {
        let header = [
            "2", "\(cost.value)", "\(createdAt)", "\(answer.queryTokens)", "\(answer.contextTokens)", "\(answer.outputTokens)",
            answer.costEstimated ? "1" : "0", answer.provider,
        ]
        return header.joined(separator: " ") + "\n" + answer.json
    }
}

/// The request's cache directives (RFC 9111 §5.2.1): `no-cache` skips the
/// stored answer and stores the new one; `no-store` neither reads nor writes.
public struct CacheDirectives: Sendable, Equatable {
    public var noCache = false
    public var noStore = false

    public init(noCache: Bool = false, noStore: Bool = false) {
        self.noCache = noCache
        self.noStore = noStore
    }
}

/// What the answer cache did for a query (the `Cache-Status` field and the lookup metrics).
public enum CacheResult: Sendable, Equatable {
    /// No cache: CACHE_ENABLED=false, or Redis unreachable.
    case bypass
    /// The request's directives: `no-store` (nothing stored) or `no-cache` (stored when `stored`).
    case directed(stored: Bool)
    /// A stored answer, with the whole seconds it has left.
    case hit(ttlSeconds: Int)
    /// The answer of an identical request computed at the same time.
    case coalesced
    /// Computed; stored unless it was too large or Redis failed.
    case miss(stored: Bool)
}
