import Foundation

/// One sample as the baselines see it: dense ids only.
///
/// `history` holds item ids `0..<itemCount`, oldest first (≤ `RecData.maxHistory` items);
/// `user` is a dense user index (0 = a user never seen as a train row, i.e. unknown to Caser's
/// user embedding); `userID` keeps the original id for prediction files.
public struct RecSample: Sendable, Hashable {
    public var userID: String
    public var user: Int
    public var history: [Int]
    public var target: Int

    public init(userID: String, user: Int, history: [Int], target: Int) {
        (self.userID, self.user, self.history, self.target) = (userID, user, history, target)
    }
}

/// The ID-level view of a benchmark shared by every baseline: the three splits as dense item ids,
/// each item's SID string (what evaluation compares, so collided items count as hits as in the LLM
/// path) and its SID codes (TIGER's generation targets).
public struct RecData: Sendable {
    /// The longest history a sample carries (MiniOneRec keeps the last 10 items).
    public static let maxHistory = 10

    public let name: String
    public let itemCount: Int
    /// Users seen in train + 1 (index 0 is the unknown user).
    public let userCount: Int
    /// `itemSIDs[item]`: e.g. `<a_236><b_231><c_226>`.
    public let itemSIDs: [String]
    /// `sidCodes[item][level]`: the integer after the level letter, `[236, 231, 226]`.
    public let sidCodes: [[Int]]
    /// Codes per level: max code + 1 over the catalogue (at least one).
    public let codebookSizes: [Int]
    public let train: [RecSample]
    public let valid: [RecSample]
    public let test: [RecSample]

    /// Every SID string of the catalogue (what `MetricRow.evaluate` counts as valid).
    public var catalogue: Set<String> { Set(itemSIDs) }

    /// Builds the view from explicit pieces (toy datasets in tests). SID strings are the codes
    /// written as `<a_i><b_j>…`. `userCount` defaults to 1 + the largest user index of any split.
    public init(name: String, sidCodes: [[Int]], train: [RecSample], valid: [RecSample], test: [RecSample],
                userCount: Int? = nil) {
        precondition(!sidCodes.isEmpty, "RecData: empty catalogue")
        let levels = sidCodes[0].count
        precondition(levels >= 1 && levels <= 26 && sidCodes.allSatisfy { $0.count == levels && $0.allSatisfy { $0 >= 0 } },
                     "RecData: every item needs the same number (1...26) of non-negative codes")
        self.name = name
        self.itemCount = sidCodes.count
        self.sidCodes = sidCodes
        self.itemSIDs = sidCodes.map(Self.sidString)
        self.codebookSizes = (0..<levels).map { l in (sidCodes.map { $0[l] }.max() ?? 0) + 1 }
        self.userCount = userCount ?? 1 + ((train + valid + test).map(\.user).max() ?? 0)
        for s in train + valid + test {
            precondition(s.user >= 0 && s.user < self.userCount, "RecData: user index \(s.user) outside 0..<\(self.userCount)")
            precondition(s.target >= 0 && s.target < sidCodes.count && s.history.allSatisfy { $0 >= 0 && $0 < sidCodes.count },
                         "RecData: item id outside 0..<\(sidCodes.count) in \(s)")
            precondition(!s.history.isEmpty && s.history.count <= Self.maxHistory, "RecData: history of \(s.history.count) items")
        }
        (self.train, self.valid, self.test) = (train, valid, test)
    }

    /// `[236, 231, 226]` → `<a_236><b_231><c_226>`.
    static func sidString(_ codes: [Int]) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return codes.enumerated().map { "<\(letters[$0.offset])_\($0.element)>" }.joined()
    }

    /// `<a_236>` at level 0 → 236; nil when the token is not `<x_N>` with x the level's letter.
    static func code(of token: String, level: Int) -> Int? {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        guard level < letters.count, token.hasPrefix("<\(letters[level])_"), token.hasSuffix(">") else { return nil }
        return Int(token.dropFirst(3).dropLast())
    }
}

extension RecData {
    /// The view of a loaded benchmark. Needs the three splits (Office has no train split offline:
    /// this throws the dataset's `.missing` error, which says so).
    ///
    /// Users get dense indices in order of first appearance in train (1, 2, …); users that never
    /// appear in train map to 0. Every sample is checked against the index by `Dataset` already.
    public init(_ dataset: Dataset) throws {
        let trainRows = try dataset.split(.train).rows
        let validRows = try dataset.split(.valid).rows
        let testRows = try dataset.split(.test).rows
        var codes: [[Int]] = []
        codes.reserveCapacity(dataset.index.count)
        for (item, tokens) in dataset.index.tokens.enumerated() {
            var row: [Int] = []
            for (level, token) in tokens.enumerated() {
                guard let c = Self.code(of: token, level: level) else {
                    throw TSRecError(.format(path: dataset.directory.path, line: 0, field: "index[\(item)]",
                                             reason: "token '\(token)' at level \(level) is not <\(Array("abcdefghijklmnopqrstuvwxyz")[min(level, 25)])_N>"),
                                     hint: "the baselines read SID codes from the index file; fetch the dataset again")
                }
                row.append(c)
            }
            codes.append(row)
        }
        var userIndex: [String: Int] = [:]
        for r in trainRows where userIndex[r.userID] == nil { userIndex[r.userID] = userIndex.count + 1 }
        func samples(_ rows: [SplitRow]) -> [RecSample] {
            rows.map { RecSample(userID: $0.userID, user: userIndex[$0.userID] ?? 0,
                                 history: Array($0.historyItemIDs.suffix(Self.maxHistory)), target: $0.targetItemID) }
        }
        self.init(name: dataset.benchmark.name, sidCodes: codes,
                  train: samples(trainRows), valid: samples(validRows), test: samples(testRows),
                  userCount: userIndex.count + 1)
        // The SID strings rebuilt from codes must be the index's own (the hit test compares strings).
        if let bad = (0..<itemCount).first(where: { itemSIDs[$0] != dataset.index.sid(of: $0) }) {
            throw TSRecError(.format(path: dataset.directory.path, line: 0, field: "index[\(bad)]",
                                     reason: "SID '\(dataset.index.sid(of: bad))' does not round-trip through its codes (\(itemSIDs[bad]))"))
        }
    }

    /// The same data with each split cut to its first rows (nil = all); for smoke budgets.
    public func prefix(train nTrain: Int?, valid nValid: Int?, test nTest: Int?) -> RecData {
        func cut(_ s: [RecSample], _ n: Int?) -> [RecSample] { n.map { Array(s.prefix($0)) } ?? s }
        return RecData(name: name, sidCodes: sidCodes, train: cut(train, nTrain), valid: cut(valid, nValid), test: cut(test, nTest),
                       userCount: userCount)
    }
}
