import Primitives
import Store

/// An answer as the API shows it, rendered once: `json` is
/// `{"answer":"…","sources":[{"kind","id"?,"ref"?,"title","snippet","score"}…]}`,
/// keys in that order, to which the query route adds its `metadata`. The
/// answer cache stores this text, so a hit is sent without decoding or
/// encoding the answer again.
public struct RenderedAnswer: Sendable, Equatable {
    public let json: String
    public let provider: String
    public let queryTokens: Int
    public let contextTokens: Int
    public let outputTokens: Int
    /// True when the provider reported no usage (the cost is an estimate).
    public let costEstimated: Bool

    init(json: String, provider: String, queryTokens: Int, contextTokens: Int, outputTokens: Int, costEstimated: Bool) {
        self.json = json
        self.provider = provider
        self.queryTokens = queryTokens
        self.contextTokens = contextTokens
        self.outputTokens = outputTokens
        self.costEstimated = costEstimated
    }

    init(_ answer: AssistantAnswer) {
        let json = #"{"answer":"# + JSONText.string(answer.answer) + #","sources":"# + Self.sourcesJSON(answer.sources) + "}"
        self.init(
            json: json, provider: answer.provider, queryTokens: answer.queryTokens, contextTokens: answer.contextTokens,
            outputTokens: answer.outputTokens, costEstimated: answer.costEstimated)
    }

    /// The sources as a JSON array, each `{"kind","id"?,"ref"?,"title","snippet","score"}`.
    public static func sourcesJSON(_ sources: [AnswerSource]) -> String {
        var json = "["
        for (index, source) in sources.enumerated() {
            if index > 0 { json += "," }
            json += #"{"kind":"# + JSONText.string(source.kind.rawValue)
            if let id = source.noteID { json += #","id":\#(id)"# }
            if let ref = source.ref { json += #","ref":"# + JSONText.string(ref) }
            json += #","title":"# + JSONText.string(source.title) + #","snippet":"# + JSONText.string(source.snippet)
            json += #","score":"# + JSONText.number(source.score, decimals: 4) + "}"
        }
        return json + "]"
    }

    /// `json` cut in two: the answer (a JSON string literal) and the sources
    /// (a JSON array). Inside the answer every quote is escaped, so the first
    /// `,"sources":` is the separator.
    public var parts: (answer: Substring, sources: Substring) {
        let separator = #","sources":"#
        guard json.hasPrefix(#"{"answer":"#), json.hasSuffix("}"), let cut = json.firstRange(of: separator) else { return (#""""#, "[]") }
        return (json[json.index(json.startIndex, offsetBy: 10)..<cut.lowerBound], json[cut.upperBound..<json.index(before: json.endIndex)])
    }
}

