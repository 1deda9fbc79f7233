import Embeddings
import Foundation
import NIOPosix
import Testing
import TestSupport

/// The Swift encoder against the numpy reference (scripts/embedding-reference,
/// whose output for 25 sentences is Fixtures/reference-embeddings.jsonl):
/// modern questions, KJV verses, accents, CJK, punctuation, whitespace, a word
/// beyond the vocabulary, and a text past the 256-token limit.
@Suite struct SentenceEncoderTests {
    struct Reference: Decodable {
        let text: String
        let vector: [Double]
    }

    static let references: [Reference] = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/reference-embeddings.jsonl").path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
    }()

    static func withModel(_ body: (LocalSentenceModel) async throws -> Void) async throws {
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        do {
            try await body(try LocalSentenceModel(folder: try TestEnvironment.modelFolder, threadPool: threadPool))
        } catch {
            try await threadPool.shutdownGracefully()
            throw error
        }
        try await threadPool.shutdownGracefully()
    }

    static func cosine(_ a: [Float], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + Double($1.0) * $1.1 }
    }

    @Test func everySentenceMatchesTheReferenceToFourNines() async throws {
        #expect(Self.references.count >= 20)
        try await Self.withModel { model in
            let vectors = try await model.embed(Self.references.map(\.text))
            for (reference, vector) in zip(Self.references, vectors) {
                let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                #expect(abs(norm - 1) < 1e-4, "\(reference.text): norm \(norm)")
                #expect(Self.cosine(vector, reference.vector) >= 0.9999, "\(reference.text.prefix(60)): cosine \(Self.cosine(vector, reference.vector))")
            }
        }
    }

    @Test func aBatchGivesWhatEachSentenceGivesAlone() async throws {
        try await Self.withModel { model in
            let texts = Array(Self.references.prefix(6).map(\.text))
            let together = try await model.embed(texts)
            for (text, vector) in zip(texts, together) {
                let alone = try await model.embed(text)
                #expect(Self.cosine(vector, alone.map(Double.init)) >= 0.99999, "\(text)")
            }
        }
    }

    @Test func theModelIsNamedByItsChecksum() async throws {
        try await Self.withModel { model in
            #expect(model.model == "all-MiniLM-L6-v2@53aa51172d14")
            #expect(model.checksum.count == 64)
        }
    }

    @Test func aFolderWithoutTheModelSaysHowToInstallIt() throws {
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        #expect { try LocalSentenceModel(folder: "/nonexistent/all-MiniLM-L6-v2", threadPool: threadPool) } throws: { error in
            (error as? EmbeddingError)?.code == .modelMissing && "\(error)".contains("fetch-model")
        }
    }
}
