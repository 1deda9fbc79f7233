/// A user's question, trimmed and checked.
public struct Question: Sendable, Equatable {
    public let text: String

    /// - Throws: ``AssistantError`` `.invalidQuestion` when, after trimming,
    ///   `raw` is empty, longer than `maxCharacters`, or holds control
    ///   characters other than tab and newline.
    public init(_ raw: String, maxCharacters: Int) throws(AssistantError) {
        var view = Substring(raw)
        while view.first?.isWhitespace == true { view = view.dropFirst() }
        while view.last?.isWhitespace == true { view = view.dropLast() }
        guard !view.isEmpty else {
            throw AssistantError(code: .invalidQuestion, message: "Query must not be empty")
        }
        guard view.count <= maxCharacters else {
            throw AssistantError(code: .invalidQuestion, message: "Query is longer than \(maxCharacters) characters")
        }
        let allowed: Set<Unicode.Scalar> = ["\t", "\n", "\r"]
        guard !view.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) else {
            throw AssistantError(code: .invalidQuestion, message: "Query must not contain control characters")
        }
        text = String(view)
    }
}
