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
        var json = #"{"answer":"# + JSONText.string(answer.answer) + #","sources":["#
        for (index, source) in answer.sources.enumerated() {
            if index > 0 { json += "," }
            json += #"{"kind":"# + JSONText.string(source.kind.rawValue)
            if let id = source.noteID { json += #","id":\#(id)"# }
            if let ref = source.ref { json += #","ref":"# + JSONText.string(ref) }
            json += #","title":"# + JSONText.string(source.title) + #","snippet":"# + JSONText.string(source.snippet)
            json += #","score":"# + JSONText.number(source.score, decimals: 4) + "}"
        }
        json += "]}"
        self.init(
            json: json, provider: answer.provider, queryTokens: answer.queryTokens, contextTokens: answer.contextTokens,
            outputTokens: answer.outputTokens, costEstimated: answer.costEstimated)
    }
}

