import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What a fetched file must hash to. The benchmark files have published sha256 sums; the one
/// file whose sha256 nobody published (Office train split) is pinned by its git blob id.
public enum Checksum: Sendable, Hashable, CustomStringConvertible {
    case sha256(String)
    /// `sha1("blob <size>\0" + bytes)`, as in GitHub's tree listing.
    case gitBlobSHA1(String)

    public var description: String {
        switch self {
        case let .sha256(h): "sha256:\(h)"
        case let .gitBlobSHA1(h): "git-blob-sha1:\(h)"
        }
    }

    var expected: String {
        switch self {
        case let .sha256(h), let .gitBlobSHA1(h): h
        }
    }

    /// The file's digest in this checksum's kind.
    func actual(fileAt url: URL) throws -> String {
        switch self {
        case .sha256: try SHA256.hash(fileAt: url)
        case .gitBlobSHA1: try SHA1.gitBlobID(fileAt: url)
        }
    }

    func matches(fileAt url: URL) throws -> Bool { try actual(fileAt: url) == expected.lowercased() }
}

/// Fetches one file into the cache and never leaves a wrong file under the final name.
///
/// Protocol (the same for `http(s)://` downloads and `file://` copies from a local mirror):
/// 1. a file already at `destination` is re-hashed; if it matches, nothing is done, otherwise
///    it is deleted and fetched again;
/// 2. bytes stream into `destination.part`; a `.part` left by an interrupted run is resumed with
///    `Range: bytes=<size>-` (a `206` answer appends, a `200` restarts from zero, a `416`
///    discards the part);
/// 3. transport failures and short bodies are retried (resuming) up to `attempts` times;
/// 4. the finished `.part` is hashed; on a match it is renamed onto `destination` (atomic on one
///    filesystem), on a mismatch it is deleted (and, if it had been resumed, fetched once more
///    from zero before giving up with a `.checksum` error).
public struct Downloader: Sendable {
    /// Seconds without any bytes before a request fails (`URLSessionConfiguration.timeoutIntervalForRequest`).
    public var idleTimeout: TimeInterval
    /// Tries per fetch for transport failures and truncated bodies (HTTP errors are not retried).
    public var attempts: Int
    /// Print a progress bar on stderr.
    public var showProgress: Bool
    /// Added to download errors, e.g. "set TSREC_MIRROR to a folder holding the archives".
    public var hint: String?

    public init(idleTimeout: TimeInterval = 60, attempts: Int = 3, showProgress: Bool = true, hint: String? = nil) {
        self.idleTimeout = idleTimeout
        self.attempts = attempts
        self.showProgress = showProgress
        self.hint = hint
    }

    public enum Outcome: Sendable, Equatable {
        /// The destination already held the right bytes.
        case alreadyPresent
        /// Fetched; `resumedFrom` > 0 when an earlier `.part` was continued.
        case fetched(bytes: Int64, resumedFrom: Int64)
    }

    /// `destination.part`: where bytes go until verified.
    public static func partURL(for destination: URL) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(destination.lastPathComponent + ".part")
    }

    @discardableResult
    public func fetch(_ source: URL, to destination: URL, checksum: Checksum, size: Int64? = nil,
                      label: String? = nil) async throws -> Outcome {
        let fm = FileManager.default
        let label = label ?? destination.lastPathComponent
        do {
            try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw TSRecError(.io(path: destination.deletingLastPathComponent().path, reason: "cannot create directory: \(error.localizedDescription)"))
        }
        if fm.fileExists(atPath: destination.path) {
            if try checksum.matches(fileAt: destination) { return .alreadyPresent }
            note("\(label): existing file does not match \(checksum); fetching again")
            try? fm.removeItem(at: destination)
        }
        let part = Self.partURL(for: destination)
        var restartedFromZero = false
        while true {
            var resumedFrom = Self.fileSize(part) ?? 0
            if let size, resumedFrom > size {
                unlink(part.path)
                resumedFrom = 0
            }
            if size == nil || resumedFrom < size! {
                try await transfer(source, into: part, size: size, label: label)
            }
            let got = Self.fileSize(part) ?? 0
            if let size, got != size {
                throw TSRecError(.download(url: source.absoluteString, status: 0,
                                           reason: "got \(got) bytes, expected \(size); the partial file is kept for resuming"),
                                 hint: hint)
            }
            let actual = try checksum.actual(fileAt: part)
            if actual == checksum.expected.lowercased() {
                guard rename(part.path, destination.path) == 0 else {
                    throw TSRecError(.io(path: destination.path, reason: "rename failed: \(String(cString: strerror(errno)))"))
                }
                return .fetched(bytes: got, resumedFrom: resumedFrom)
            }
            unlink(part.path)
            if resumedFrom > 0 && !restartedFromZero {
                // The old partial bytes may have been the bad ones: one clean try from zero.
                note("\(label): resumed file does not match \(checksum); fetching again from the start")
                restartedFromZero = true
                continue
            }
            throw TSRecError(.checksum(path: source.absoluteString, expected: checksum.description, actual: actual),
                             hint: "the source serves different bytes than the registry expects; the corrupt file was deleted"
                                 + (hint.map { ". " + $0 } ?? ""))
        }
    }

    /// Brings `part` up to the full file: copies from a local file, or downloads (with retries).
    private func transfer(_ source: URL, into part: URL, size: Int64?, label: String) async throws {
        if source.isFileURL {
            try copyLocal(source, into: part, label: label)
            return
        }
        var lastError: TSRecError?
        for attempt in 1...max(1, attempts) {
            try Task.checkCancellation()
            do {
                let complete = try await downloadOnce(source, into: part, label: label)
                if complete { return }
                lastError = TSRecError(.download(url: source.absoluteString, status: 0,
                                                 reason: "connection closed after \(Self.fileSize(part) ?? 0) bytes (body truncated)"),
                                       hint: hint)
            } catch let error as TSRecError {
                guard case let .download(_, status, _) = error.kind, status == 0 else { throw error }   // HTTP errors: no retry
                lastError = error
            }
            if attempt < attempts {
                note("\(label): \(lastError!.kind); retrying (\(attempt + 1)/\(attempts))")
                try await Task.sleep(nanoseconds: UInt64(attempt) * 300_000_000)
            }
        }
        throw lastError!
    }

    /// One HTTP request. Returns whether the body was complete (all of Content-Length, or the
    /// server closed cleanly without a length). Throws on HTTP errors and transport failures.
    private func downloadOnce(_ source: URL, into part: URL, label: String) async throws -> Bool {
        let offset = Self.fileSize(part) ?? 0
        var request = URLRequest(url: source)
        request.timeoutInterval = idleTimeout
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let delegate = StreamingDelegate(part: part, offset: offset,
                                         progress: DownloadProgress(label: label, enabled: showProgress))
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        let result: StreamingDelegate.Result = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                delegate.setContinuation(continuation)
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
        switch result {
        case let .httpError(status):
            if status == 416 {
                // Our Range starts at or past the end: the part is useless (or complete but unverified).
                unlink(part.path)
                throw TSRecError(.download(url: source.absoluteString, status: 0, reason: "server refused to resume (HTTP 416); restarting"), hint: hint)
            }
            throw TSRecError(.download(url: source.absoluteString, status: status,
                                       reason: HTTPURLResponse.localizedString(forStatusCode: status)),
                             hint: hint ?? "check the URL; the server did not serve the file")
        case let .transportError(message):
            if Task.isCancelled { throw CancellationError() }
            throw TSRecError(.download(url: source.absoluteString, status: 0, reason: message),
                             hint: hint ?? "check the network connection")
        case let .ioError(error):
            throw error
        case let .finished(expectedTotal):
            let got = Self.fileSize(part) ?? 0
            return expectedTotal.map { got >= $0 } ?? true
        }
    }

    /// Copies a local file (mirror folder) into `part` with progress; never resumes (cheap).
    private func copyLocal(_ source: URL, into part: URL, label: String) throws {
        guard FileManager.default.fileExists(atPath: source.path) else {
            throw TSRecError(.missing(what: "mirror file", path: source.path),
                             hint: hint ?? "check the mirror folder")
        }
        unlink(part.path)
        let out = open(part.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard out >= 0 else {
            throw TSRecError(.io(path: part.path, reason: "cannot create: \(String(cString: strerror(errno)))"))
        }
        defer { close(out) }
        let total = Self.fileSize(source)
        var progress = DownloadProgress(label: label, enabled: showProgress)
        var done: Int64 = 0
        try forEachChunk(of: source) { chunk in
            try Self.writeAll(out, chunk, path: part.path)
            done += Int64(chunk.count)
            progress.update(done: done, total: total)
        }
        progress.finish(done: done, note: "copied")
    }

    static func writeAll(_ fd: Int32, _ chunk: UnsafeRawBufferPointer, path: String) throws {
        var p = chunk.baseAddress!, left = chunk.count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw TSRecError(.io(path: path, reason: "write failed: \(String(cString: strerror(errno)))"),
                                 hint: "check free disk space")
            }
            p += n
            left -= n
        }
    }

    static func fileSize(_ url: URL) -> Int64? {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    private func note(_ text: String) {
        if showProgress { FileHandle.standardError.write(Data((text + "\n").utf8)) }
    }
}

/// Receives one response for `Downloader`: opens the `.part` for appending (206) or truncating
/// (200), writes each chunk as it arrives (so a killed process leaves a resumable part), and
/// reports the outcome once. URLSession calls it on a serial queue; the lock covers the
/// continuation hand-off from the calling task.
private final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    enum Result {
        /// Body ended; `expectedTotal` is the full file size when the server said it.
        case finished(expectedTotal: Int64?)
        case httpError(Int)
        case transportError(String)
        case ioError(TSRecError)
    }

    private let part: URL
    private let offset: Int64
    private var progress: DownloadProgress
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Result, Error>?
    private var pending: Result?
    private var fd: Int32 = -1
    private var written: Int64 = 0
    private var total: Int64?
    private var status = 0
    private var ioError: TSRecError?
    private var reported = false

    init(part: URL, offset: Int64, progress: DownloadProgress) {
        self.part = part
        self.offset = offset
        self.progress = progress
    }

    func setContinuation(_ c: CheckedContinuation<Result, Error>) {
        lock.lock()
        if let pending {
            lock.unlock()
            c.resume(returning: pending)
        } else {
            continuation = c
            lock.unlock()
        }
    }

    private func complete(_ result: Result) {
        guard !reported else { return }
        reported = true
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        lock.lock()
        if let c = continuation {
            continuation = nil
            lock.unlock()
            c.resume(returning: result)
        } else {
            pending = result
            lock.unlock()
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        status = http?.statusCode ?? 200
        let length = response.expectedContentLength >= 0 ? response.expectedContentLength : nil
        var start: Int64 = 0
        switch status {
        case 206 where offset > 0:
            // Content-Range: bytes <first>-<last>/<total>; appending is only right if first == offset.
            let range = http?.value(forHTTPHeaderField: "Content-Range") ?? ""
            let first = range.split(separator: " ").last?.split(separator: "-").first.flatMap { Int64($0) }
            if let first, first != offset {
                // Not the range we asked for: drop the part; the retry starts from zero.
                unlink(part.path)
                completionHandler(.cancel)
                complete(.transportError("server answered with range '\(range)' instead of bytes=\(offset)-; restarting from zero"))
                return
            }
            start = offset
            total = length.map { $0 + start }
        case 200...299:
            total = length
        default:
            completionHandler(.cancel)
            complete(.httpError(status))
            return
        }
        fd = open(part.path, O_WRONLY | O_CREAT | (start > 0 ? O_APPEND : O_TRUNC), 0o644)
        if fd < 0 {
            ioError = TSRecError(.io(path: part.path, reason: "cannot open for writing: \(String(cString: strerror(errno)))"))
            completionHandler(.cancel)
            complete(.ioError(ioError!))
            return
        }
        written = start
        progress.update(done: written, total: total)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard fd >= 0, ioError == nil else { return }
        do {
            try data.withUnsafeBytes { try Downloader.writeAll(fd, $0, path: part.path) }
            written += Int64(data.count)
            progress.update(done: written, total: total)
        } catch let error as TSRecError {
            ioError = error
            dataTask.cancel()
        } catch {
            ioError = TSRecError(.io(path: part.path, reason: "\(error)"))
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        guard !reported else { return }     // HTTP errors were reported when the header arrived
        if let ioError {
            complete(.ioError(ioError))
        } else if let error {
            progress.finish(done: written, note: "interrupted")
            complete(.transportError(error.localizedDescription))
        } else {
            if let total, written < total {
                progress.finish(done: written, note: "truncated")
            } else {
                progress.finish(done: written)
            }
            complete(.finished(expectedTotal: total))
        }
    }
}
