import Testing
@testable import TSRec

@Test func openBLASReportsACore() {
    #expect(!BLAS.coreName.isEmpty)
}
