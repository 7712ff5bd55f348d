import Foundation

extension Llama {
    /// Loads pretrained weights from a GGUF file (see `load(gguf:layers:log:)`).
    public static func load(contentsOf url: URL, layers: Int? = nil,
                            log: (String) -> Void = { print($0) }) throws -> Llama {
        try load(gguf: GGUFFile(contentsOf: url), layers: layers, log: log)
    }

    /// Builds the model from a GGUF: the config from its metadata, every parameter from the
    /// tensor of the same name (`Llama.parameters` is the name map), dequantized straight into
    /// the parameter buffer. Any missing, mis-shaped or unused tensor is an error.
    ///
    /// `layers` (smoke runs only) keeps the first N pretrained blocks; the skipped blocks'
    /// tensors are not "unused", and the truncation is logged because the result is not the
    /// pretrained model.
    public static func load(gguf: GGUFFile, layers: Int? = nil,
                            log: (String) -> Void = { print($0) }) throws -> Llama {
        let path = gguf.url.path
        let full = try LlamaConfig(gguf: gguf)
        var config = full
        if let n = layers {
            guard n >= 1 && n <= full.layers else {
                throw TSRecError(.config(field: "layers", reason: "\(n) is outside 1...\(full.layers) for \(path)"))
            }
            config = full.truncated(layers: n)
            if n < full.layers {
                log("Llama: TRUNCATED to the first \(n) of \(full.layers) pretrained blocks (smoke-run option)")
            }
        }
        let model = try Llama(zeros: config)
        var unused = Set(gguf.tensors.keys)
        for (name, tensor) in model.parameters {
            guard let info = gguf.tensors[name] else {
                throw TSRecError(.gguf(path: path, reason: "missing tensor '\(name)'"),
                                 hint: "the file is not a llama-architecture model with tied embeddings")
            }
            guard info.shape == tensor.shape else {
                throw TSRecError(.shape(name: "\(path): \(name)", expected: tensor.shape, got: info.shape))
            }
            try tensor.withUnsafeMutableBufferPointer { try gguf.dequantize(name, into: $0) }
            unused.remove(name)
        }
        for l in config.layers..<full.layers {                   // skipped on purpose (truncated)
            for (suffix, _) in model.blocks[0].named { unused.remove("blk.\(l).\(suffix)") }
        }
        guard unused.isEmpty else {
            throw TSRecError(.gguf(path: path, reason: "unused tensors: \(unused.sorted().joined(separator: ", "))"),
                             hint: "the file holds tensors this Llama does not model (untied head? biases?)")
        }
        return model
    }
}
