import Embeddings
import Foundation
import Testing
import TestSupport

/// The tokenizer against ids Hugging Face's `tokenizers` gives for the model's tokenizer.json.
@Suite struct WordPieceTokenizerTests {
    static func tokenizer() throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabulary: try String(contentsOfFile: try TestEnvironment.modelFolder + "/vocab.txt", encoding: .utf8), maxTokens: 256)
    }

    @Test(arguments: [
        ("How long did Methuselah live?", [101, 2129, 2146, 2106, 2777, 9825, 10581, 2232, 2444, 1029, 102]),
        ("Café façade", [101, 7668, 8508, 102]),
        ("e-mail", [101, 1041, 1011, 5653, 102]),
    ])
    func idsMatchHuggingFace(text: String, ids: [Int32]) throws {
        #expect(try Self.tokenizer().tokenize(text) == ids)
    }

    @Test func aLongTextIsCutTo256TokensEndingWithSeparator() throws {
        let ids = try Self.tokenizer().tokenize(String(repeating: "grace and peace ", count: 200))
        #expect(ids.count == 256)
        #expect(ids.first == 101 && ids.last == 102)
    }
}
