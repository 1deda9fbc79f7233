// A BERT encoder with mean pooling: the forward pass of sentence-transformers' models.
import CBLAS
import FoundationEssentials
import Glibc

/// The shape of a BERT model, from its `config.json`.
public struct EncoderShape: Decodable, Sendable, Equatable {
    public let hiddenSize: Int
    public let numAttentionHeads: Int
    public let numHiddenLayers: Int
    public let intermediateSize: Int
    public let vocabSize: Int
    public let maxPositionEmbeddings: Int
    public let typeVocabSize: Int
    public let layerNormEps: Float

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numAttentionHeads = "num_attention_heads", numHiddenLayers = "num_hidden_layers"
        case intermediateSize = "intermediate_size", vocabSize = "vocab_size", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps"
    }
}

/// Turns token ids into one unit vector per sequence: BERT's embeddings and
/// encoder layers (post-norm attention and GELU feed-forward) over the
/// weights of a safetensors file, then the mean of the last hidden states over
/// the sequence's tokens, L2-normalised — sentence-transformers' `Transformer`,
/// `Pooling(mean)` and `Normalize` modules. The matrix products run on
/// OpenBLAS's `cblas_sgemm`; a batch's sequences share each dense layer's
/// product (their rows are stacked), attention stays within each sequence.
///
/// Threading: the weights are read-only pointers into `file`'s mapping and
/// every call allocates its own scratch, so calls may run on several threads
/// at once (the appliance runs them on one embedding thread per worker).
public final class SentenceEncoder: @unchecked Sendable {
    struct Layer {
        let query: Dense, key: Dense, value: Dense, attentionOutput: Dense
        let attentionNorm: Norm
        let intermediate: Dense, output: Dense
        let outputNorm: Norm
    }

    struct Dense {
        /// [outputs × inputs], row-major (PyTorch's Linear).
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        let inputs: Int
        let outputs: Int
    }

    struct Norm {
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
    }

    public let shape: EncoderShape
    let file: SafeTensorsFile
    let wordEmbeddings: UnsafePointer<Float>
    let positionEmbeddings: UnsafePointer<Float>
    let tokenTypeEmbeddings: UnsafePointer<Float>
    let embeddingNorm: Norm
    let layers: [Layer]

    /// Sets how many threads OpenBLAS uses for each product, process-wide:
    /// one in a worker (there is already a worker per core) and in an import
    /// (it runs batches side by side). Opens OpenBLAS if it is not yet open.
    public static func setBLASThreads(_ count: Int) {
        OpenBLAS.shared?.setThreads(Int32(max(count, 1)))
    }

    /// The vectors' length.
    public var dimensions: Int { shape.hiddenSize }

    let blas: OpenBLAS

    /// - Throws: ``EmbeddingError`` `.invalidModel` when a tensor is missing or not of the shape `shape` implies,
    ///   `.modelMissing` when OpenBLAS (`libopenblas0`) cannot be opened.
    public init(weights file: SafeTensorsFile, shape: EncoderShape) throws(EmbeddingError) {
        guard let blas = OpenBLAS.shared else {
            throw EmbeddingError(code: .modelMissing, message: "cannot open \(OpenBLAS.library): install libopenblas0")
        }
        self.blas = blas
        self.file = file
        self.shape = shape
        let hidden = shape.hiddenSize
        guard shape.numAttentionHeads > 0, hidden % shape.numAttentionHeads == 0 else {
            throw EmbeddingError(code: .invalidModel, message: "hidden_size \(hidden) is not a multiple of num_attention_heads \(shape.numAttentionHeads)")
        }
        wordEmbeddings = try file.tensor("embeddings.word_embeddings.weight", shape: [shape.vocabSize, hidden])
        positionEmbeddings = try file.tensor("embeddings.position_embeddings.weight", shape: [shape.maxPositionEmbeddings, hidden])
        tokenTypeEmbeddings = try file.tensor("embeddings.token_type_embeddings.weight", shape: [shape.typeVocabSize, hidden])
        embeddingNorm = try Self.norm(file, "embeddings.LayerNorm", hidden)
        layers = try (0..<shape.numHiddenLayers).map { (index) throws(EmbeddingError) in
            let prefix = "encoder.layer.\(index)."
            return Layer(
                query: try Self.dense(file, prefix + "attention.self.query", hidden, hidden),
                key: try Self.dense(file, prefix + "attention.self.key", hidden, hidden),
                value: try Self.dense(file, prefix + "attention.self.value", hidden, hidden),
                attentionOutput: try Self.dense(file, prefix + "attention.output.dense", hidden, hidden),
                attentionNorm: try Self.norm(file, prefix + "attention.output.LayerNorm", hidden),
                intermediate: try Self.dense(file, prefix + "intermediate.dense", hidden, shape.intermediateSize),
                output: try Self.dense(file, prefix + "output.dense", shape.intermediateSize, hidden),
                outputNorm: try Self.norm(file, prefix + "output.LayerNorm", hidden))
        }
    }

    private static func dense(_ file: SafeTensorsFile, _ name: String, _ inputs: Int, _ outputs: Int) throws(EmbeddingError) -> Dense {
        Dense(
            weight: try file.tensor(name + ".weight", shape: [outputs, inputs]), bias: try file.tensor(name + ".bias", shape: [outputs]),
            inputs: inputs, outputs: outputs)
    }

    private static func norm(_ file: SafeTensorsFile, _ name: String, _ size: Int) throws(EmbeddingError) -> Norm {
        Norm(weight: try file.tensor(name + ".weight", shape: [size]), bias: try file.tensor(name + ".bias", shape: [size]))
    }

    /// One unit vector per sequence of token ids (each at most `maxPositionEmbeddings` long, ids below `vocabSize`).
    public func encode(_ sequences: [[Int32]]) -> [[Float]] {
        let hidden = shape.hiddenSize
        let rows = sequences.reduce(0) { $0 + $1.count }
        guard rows > 0 else { return sequences.map { _ in [Float](repeating: 0, count: hidden) } }
        let x = Matrix(rows: rows, columns: hidden)
        defer { x.free() }
        var row = 0
        for sequence in sequences {
            for (position, id) in sequence.enumerated() {
                let destination = x.row(row)
                let word = wordEmbeddings + Int(id) * hidden
                let place = positionEmbeddings + position * hidden
                for column in 0..<hidden { destination[column] = word[column] + place[column] + tokenTypeEmbeddings[column] }
                row += 1
            }
        }
        layerNorm(x, embeddingNorm)
        for layer in layers { apply(layer, to: x, lengths: sequences.map(\.count)) }
        return meanPooled(x, lengths: sequences.map(\.count))
    }

    private func apply(_ layer: Layer, to x: Matrix, lengths: [Int]) {
        let hidden = shape.hiddenSize
        let (query, key, value) = (product(x, layer.query), product(x, layer.key), product(x, layer.value))
        defer { query.free(); key.free(); value.free() }
        let context = Matrix(rows: x.rows, columns: hidden)
        defer { context.free() }
        var offset = 0
        for length in lengths {
            attend(query: query, key: key, value: value, into: context, rows: offset..<(offset + length))
            offset += length
        }
        let attended = product(context, layer.attentionOutput, adding: x)
        x.copy(from: attended)
        attended.free()
        layerNorm(x, layer.attentionNorm)
        let intermediate = product(x, layer.intermediate)
        defer { intermediate.free() }
        for index in 0..<(intermediate.rows * intermediate.columns) { intermediate.values[index] = Self.gelu(intermediate.values[index]) }
        let output = product(intermediate, layer.output, adding: x)
        x.copy(from: output)
        output.free()
        layerNorm(x, layer.outputNorm)
    }

    /// Scaled dot-product attention of each head over the rows of one sequence.
    private func attend(query: Matrix, key: Matrix, value: Matrix, into context: Matrix, rows: Range<Int>) {
        let hidden = shape.hiddenSize
        let heads = shape.numAttentionHeads
        let headSize = hidden / heads
        let length = rows.count
        let scores = Matrix(rows: length, columns: length)
        defer { scores.free() }
        let scale = 1 / Float(headSize).squareRoot()
        for head in 0..<heads {
            let column = head * headSize
            blas.sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(length), Int32(length), Int32(headSize), scale,
                query.row(rows.lowerBound) + column, Int32(hidden), key.row(rows.lowerBound) + column, Int32(hidden),
                0, scores.values, Int32(length))
            for row in 0..<length { Self.softmax(scores.row(row), count: length) }
            blas.sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(length), Int32(headSize), Int32(length), 1,
                scores.values, Int32(length), value.row(rows.lowerBound) + column, Int32(hidden),
                0, context.row(rows.lowerBound) + column, Int32(hidden))
        }
    }

    /// `input · weightᵀ + bias (+ residual)`, a new matrix the caller frees.
    private func product(_ input: Matrix, _ dense: Dense, adding residual: Matrix? = nil) -> Matrix {
        let result = Matrix(rows: input.rows, columns: dense.outputs)
        for row in 0..<input.rows {
            let destination = result.row(row)
            for column in 0..<dense.outputs { destination[column] = dense.bias[column] }
            if let residual {
                let source = residual.row(row)
                for column in 0..<dense.outputs { destination[column] += source[column] }
            }
        }
        blas.sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(input.rows), Int32(dense.outputs), Int32(dense.inputs), 1,
            input.values, Int32(dense.inputs), dense.weight, Int32(dense.inputs), 1, result.values, Int32(dense.outputs))
        return result
    }

    private func layerNorm(_ x: Matrix, _ norm: Norm) {
        let columns = x.columns
        for row in 0..<x.rows {
            let values = x.row(row)
            var mean: Float = 0
            for column in 0..<columns { mean += values[column] }
            mean /= Float(columns)
            var variance: Float = 0
            for column in 0..<columns { variance += (values[column] - mean) * (values[column] - mean) }
            let inverse = 1 / (variance / Float(columns) + shape.layerNormEps).squareRoot()
            for column in 0..<columns { values[column] = (values[column] - mean) * inverse * norm.weight[column] + norm.bias[column] }
        }
    }

    private func meanPooled(_ x: Matrix, lengths: [Int]) -> [[Float]] {
        var offset = 0
        return lengths.map { length in
            defer { offset += length }
            var sum = [Double](repeating: 0, count: x.columns)
            for row in offset..<(offset + length) {
                let values = x.row(row)
                for column in 0..<x.columns { sum[column] += Double(values[column]) }
            }
            let norm = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return sum.map { norm > 0 ? Float($0 / norm) : 0 }
        }
    }

    /// BERT's exact GELU: x · Φ(x).
    static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + erff(x * 0.70710678118654752))
    }

    static func softmax(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var largest = -Float.infinity
        for index in 0..<count { largest = max(largest, values[index]) }
        var sum: Float = 0
        for index in 0..<count {
            values[index] = expf(values[index] - largest)
            sum += values[index]
        }
        for index in 0..<count { values[index] /= sum }
    }
}

/// OpenBLAS opened with dlopen, and the two functions the encoder calls.
/// Threading: the function pointers are immutable; OpenBLAS's `cblas_sgemm`
/// may be called from several threads at once.
struct OpenBLAS: @unchecked Sendable {
    typealias SGEMM = @convention(c) (
        CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Float,
        UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32
    ) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void

    static let library = "libopenblas.so.0"
    /// Opened on first use, once per process; nil when the library or a symbol is missing.
    static let shared: OpenBLAS? = {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL),
            let sgemm = dlsym(handle, "cblas_sgemm"), let setThreads = dlsym(handle, "openblas_set_num_threads")
        else { return nil }
        return OpenBLAS(sgemm: unsafeBitCast(sgemm, to: SGEMM.self), setThreads: unsafeBitCast(setThreads, to: SetThreads.self))
    }()

    let sgemm: SGEMM
    let setThreads: SetThreads
}

/// A row-major float matrix on the heap; its owner frees it.
struct Matrix {
    let values: UnsafeMutablePointer<Float>
    let rows: Int
    let columns: Int

    init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        values = .allocate(capacity: max(rows * columns, 1))
    }

    func row(_ index: Int) -> UnsafeMutablePointer<Float> { values + index * columns }

    func copy(from other: Matrix) { values.update(from: other.values, count: rows * columns) }

    func free() { values.deallocate() }
}
