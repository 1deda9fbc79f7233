// BERT's uncased WordPiece tokenizer, as the model's tokenizer.json declares it.
@_spi(_Unicode) import Swift  // the standard library's own NFD (String._nfd): accents are stripped without Foundation's ICU

/// Turns text into the token ids of a BERT vocabulary (`vocab.txt`, one token
/// per line, its line number the id), as Hugging Face's `BertNormalizer`,
/// `BertPreTokenizer` and `WordPiece` do for an uncased model: control
/// characters dropped, whitespace made a space, CJK ideographs split apart,
/// lower case, accents stripped (NFD, then no non-spacing marks), words split
/// at whitespace and at every punctuation character, each word cut
/// greedily into the longest vocabulary pieces (continuations prefixed `##`),
/// a word with no such cut or longer than 100 characters becoming `[UNK]`;
/// then `[CLS] … [SEP]`, truncated to `maxTokens`.
///
/// Immutable after init, so safe to share between threads.
public struct WordPieceTokenizer: Sendable {
    let ids: [String: Int32]
    let classID: Int32
    let separatorID: Int32
    let unknownID: Int32
    /// The most tokens a sequence keeps, `[CLS]` and `[SEP]` included.
    public let maxTokens: Int
    static let maxWordCharacters = 100

    /// - Throws: ``EmbeddingError`` `.invalidModel` when a special token is missing.
    public init(vocabulary: String, maxTokens: Int) throws(EmbeddingError) {
        var ids: [String: Int32] = [:]
        for (index, line) in vocabulary.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            ids[String(line.hasSuffix("\r") ? line.dropLast() : line)] = Int32(index)
        }
        guard let classID = ids["[CLS]"], let separatorID = ids["[SEP]"], let unknownID = ids["[UNK]"] else {
            throw EmbeddingError(code: .invalidModel, message: "vocab.txt lacks [CLS], [SEP] or [UNK]")
        }
        self.ids = ids
        self.classID = classID
        self.separatorID = separatorID
        self.unknownID = unknownID
        self.maxTokens = maxTokens
    }

    /// The ids of `text`, `[CLS]` first and `[SEP]` last.
    public func tokenize(_ text: String) -> [Int32] {
        var tokens: [Int32] = [classID]
        for word in Self.words(in: Self.normalized(text)) {
            tokens += pieces(of: word)
            if tokens.count >= maxTokens - 1 { break }
        }
        return Array(tokens.prefix(maxTokens - 1)) + [separatorID]
    }

    /// WordPiece: the longest vocabulary prefix, then `##` + the longest prefix of the rest, and so on.
    func pieces(of word: [Unicode.Scalar]) -> [Int32] {
        guard word.count <= Self.maxWordCharacters else { return [unknownID] }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32?
            while end > start {
                var candidate = String(String.UnicodeScalarView(word[start..<end]))
                if start > 0 { candidate = "##" + candidate }
                if let id = ids[candidate] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let found else { return [unknownID] }
            pieces.append(found)
            start = end
        }
        return pieces
    }

    /// BertNormalizer: clean, space out CJK ideographs, strip accents, lower-case (in its order).
    static func normalized(_ text: String) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) {
                cleaned.append(" ")
            } else if isChineseCharacter(scalar) {
                cleaned.append(contentsOf: [" ", scalar, " "])
            } else {
                cleaned.append(scalar)
            }
        }
        let stripped = String(String.UnicodeScalarView(String(cleaned)._nfd.filter { $0.properties.generalCategory != .nonspacingMark }))
        return Array(stripped.lowercased().unicodeScalars)
    }

    /// BertPreTokenizer: split at whitespace; every punctuation character is a word of its own.
    static func words(in scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var word: [Unicode.Scalar] = []
        for scalar in scalars {
            if scalar.properties.isWhitespace {
                if !word.isEmpty { words.append(word) }
                word = []
            } else if isPunctuation(scalar) {
                if !word.isEmpty { words.append(word) }
                words.append([scalar])
                word = []
            } else {
                word.append(scalar)
            }
        }
        if !word.isEmpty { words.append(word) }
        return words
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// BERT counts every non-alphanumeric ASCII character as punctuation, plus Unicode's P* categories.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value) || (123...126).contains(value) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
