import Foundation

/// Whether wall-time floors ("loads in under 10 s") are checked: in release builds, and not under
/// a sanitizer (`make sanitize` / `make sanitize-thread` set TSREC_SANITIZER; ASan and TSan make
/// the code 2-15x slower, so a floor would measure the instrumentation, not the code).
enum TimingFloors {
    static var apply: Bool {
        #if DEBUG
        return false
        #else
        return ProcessInfo.processInfo.environment["TSREC_SANITIZER"] == nil
        #endif
    }
}
