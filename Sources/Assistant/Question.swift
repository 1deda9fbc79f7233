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

    /// The question as the answer cache compares it: case folded, runs of
    /// whitespace made one space, punctuation and symbols at either end
    /// trimmed. "What is grace?", "what is grace" and "  What  is  grace? " are one.
    public var normalized: String {
        // Split on whitespace scalars, not characters: a combining mark after a
        // newline is a character of its own, but after the joining space it
        // becomes part of that space's, which a second pass would drop (the
        // fuzzer found "a\n\u{300}b"): normalizing must give the same text twice.
        let words = text.lowercased().unicodeScalars.split { $0.properties.isWhitespace }.map { String(String.UnicodeScalarView($0)) }
            .joined(separator: " ")
        let edge: (Character) -> Bool = { $0.isPunctuation || $0.isSymbol || $0.isWhitespace }
        var view = Substring(words)
        while let first = view.first, edge(first) { view = view.dropFirst() }
        while let last = view.last, edge(last) { view = view.dropLast() }
        return String(view)
    }
}
