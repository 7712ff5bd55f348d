/// The autograd tape: ops append a backward closure as they run; `backward(from:)` replays
/// them in reverse. Recording order is a topological order of the graph, so no sort is needed
/// (micrograd's `_backward` closures, llm.c's explicit reverse pass).
///
/// There is no global "grad mode": a model run without a tape (`tape: nil`) or with
/// `Tape(recording: false)` builds no graph and keeps no activations alive.
public final class Tape {
    public let isRecording: Bool
    private var backwards: [() -> Void] = []

    public init(recording: Bool = true) { isRecording = recording }

    /// How many backward closures are recorded.
    public var count: Int { backwards.count }

    /// Whether an op on `inputs` must record: recording and some input needs a gradient.
    @inline(__always) public func needsGrad(_ inputs: Tensor...) -> Bool {
        isRecording && inputs.contains { $0.requiresGrad }
    }

    /// Appends the backward step of an op that just ran.
    public func record(_ backward: @escaping () -> Void) { backwards.append(backward) }

    /// Seeds `d loss / d loss = seed` and runs every recorded backward closure in reverse,
    /// then clears the tape (activations captured by closures are released).
    public func backward(from loss: Tensor, seed: Float = 1) {
        precondition(loss.count == 1, "backward: loss must have one element, got shape \(loss.shape)")
        precondition(loss.requiresGrad, "backward: loss does not depend on any parameter")
        loss.withGradPointer { $0[0] += seed }
        while let step = backwards.popLast() { step() }
    }

    /// Drops everything recorded (e.g. after a forward pass used only for evaluation).
    public func reset() { backwards.removeAll(keepingCapacity: true) }
}
