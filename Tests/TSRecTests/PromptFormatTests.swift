import Foundation
import Testing
@testable import TSRec

/// The authors' prompt format (TS-Rec release, read for its facts; the wording is ours): sections
/// in order, two blocks tokenized separately, the response starting right after
/// "### Response:\n", answers ending with "\n" then EOS, and an evaluation prompt worded
/// differently from the training prompt.
@Suite struct PromptFormatTests {
    let history = ["<a_1><b_2><c_3>", "<a_4><b_5><c_6>"]

    @Test func sectionsInTheAuthorsOrder() {
        for prompt in [Prompt.nextItem(history: history), .nextItemQuery(history: history), .titleOfItem(sid: "<a_1><b_2><c_3>"),
                       .itemWithTitle(title: "Glue"), .nextTitle(history: history), .meaningOfToken(token: "<a_1>"),
                       .tokenWithMeaning(description: "Tools.", level: 1)] {
            let segments = prompt.segments(.alpaca)
            #expect(segments.count == 2)
            let (instruction, input) = (segments[0], segments[1])
            #expect(!instruction.hasPrefix("<|") && !input.contains("<|im_start|>"))   // plain text, no chat template
            #expect(instruction.contains(". \n\n### Instruction:\n"))
            #expect(input.hasPrefix("### User Input: \n") && input.hasSuffix("\n\n### Response:\n"))
            // TS-Align's instruction ends with one newline, every other task's with a blank line
            if prompt.task == "ts-align" {
                #expect(instruction.hasSuffix(".\n") && !instruction.hasSuffix("\n\n"))
            } else {
                #expect(instruction.hasSuffix("\n\n"))
            }
        }
    }

    @Test func evaluationWordingDiffersFromTraining() {
        let train = Prompt.nextItem(history: history).segments(.alpaca)
        let eval = Prompt.nextItemQuery(history: history).segments(.alpaca)
        #expect(train[0] == eval[0])   // same preamble and instruction
        #expect(train[1] != eval[1])   // the input sentence is worded differently
        #expect(train[1].contains(history.joined(separator: ", ")) && eval[1].contains(history.joined(separator: ", ")))
    }

    @Test func descriptionToTokenDoesNotNameTheLevel() {
        let text = Prompt.tokenWithMeaning(description: "Tools.", level: 1).rendered(.alpaca)
        #expect(!text.contains("level"))
        #expect(Prompt.tokenWithMeaning(description: "Tools.", level: 1).rendered(.chatML).contains("level-b"))
    }
}

/// The builder on the real tokenizer and Industrial data: endings, decoding sequences, sample sets.
@Suite(.enabled(if: TSRecFixtures.industrialAndModelAvailable, "needs the SmolLM2 GGUF and the Industrial dataset in the cache (make model data)"))
struct AuthorsSampleSetTests {
    let dataset: Dataset
    let tokenizer: BPETokenizer
    let builder: SFTSampleBuilder

    init() throws {
        let paths = Paths.fromEnvironment()
        dataset = try Dataset.load(.industrial, paths: paths)
        var t = try BPETokenizer(gguf: GGUFFile(contentsOf: ModelStore(paths: paths).url("SmolLM2-135M-Instruct.Q4_1.gguf")))
        _ = t.addTokens(dataset.sidTokens)
        tokenizer = t
        builder = try SFTSampleBuilder(tokenizer: t, maxLength: 512, format: .alpaca)
    }

    @Test func answersEndWithNewlineThenEOS() throws {
        let eos = Int32(tokenizer.eosID!)
        let (sid0, sid1) = (dataset.index.sid(of: 0), dataset.index.sid(of: 1))
        let sample = builder.sample(.nextItem(history: [sid0]), response: sid1, task: .nextItem)!
        let answer = Array(sample.tokens[sample.promptLength...])
        #expect(answer.count == 5 && answer.suffix(2) == [198, eos])   // 3 SID tokens, "\n", EOS
        #expect(tokenizer.decode(answer.prefix(3).map(Int.init)) == sid1)
        // the prompt is the two blocks tokenized separately, and ends where the response starts
        let segments = Prompt.nextItem(history: [sid0]).segments(.alpaca)
        #expect(Array(sample.tokens[..<sample.promptLength]) == segments.flatMap { tokenizer.encode($0) }.map(Int32.init))
        #expect(tokenizer.decode(sample.tokens[..<sample.promptLength].map(Int.init)).hasSuffix("### Response:\n"))
        // the decoding trie generates the same ending
        #expect(builder.decodedSequence(sid: [7, 8, 9]) == [7, 8, 9, 198, Int(eos)])
        // titles end the same way
        let title = builder.sample(.titleOfItem(sid: sid0), response: "Glue", task: .itemAlignment)!
        #expect(title.tokens.suffix(2) == [198, eos])
    }

    /// SID↔title pairs through maps: 3,670 SID → title and 3,646 title → SID on Industrial (METHOD.md);
    /// a collided SID is asked once and answered with its last item's title, which the fusion task uses too.
    @Test func alignmentPairsCollapseAsTheAuthorsMapsDo() throws {
        let (samples, dropped) = try builder.trainingSamples(dataset, tasks: [.itemAlignment], trainRows: 10)
        #expect(dropped == 0)
        #expect(samples.count == 3_670 + 3_646)
        let titleOf = dataset.titleBySID()
        #expect(titleOf.count == 3_670)
        // a collided SID: its items' titles differ, the map keeps the last item's
        let collided = dataset.index.itemsBySID.first { $0.value.count > 1 && Set($0.value.map { dataset.items[$0].title }).count > 1 }!
        #expect(titleOf[collided.key] == dataset.items[collided.value.max()!].title)
        let asked = samples.filter { tokenizer.decode($0.tokens.map(Int.init)).contains("\"\(collided.key)\"") }
        #expect(asked.count == 1)
        // fusion answers with the map's title
        let rows = try dataset.split(.train).rows
        let row = rows.first { $0.targetSID == collided.key && $0.targetTitle != titleOf[collided.key] }
        if let row {
            let (fusion, _) = try builder.trainingSamples(dataset, tasks: [.fusion], trainRows: rows.firstIndex { $0.userID == row.userID && $0.targetSID == row.targetSID }! + 1)
            let answer = tokenizer.decode(fusion.last!.tokens[fusion.last!.promptLength...].dropLast().map(Int.init))
            #expect(answer == titleOf[collided.key]! + "\n")
        }
    }
}
