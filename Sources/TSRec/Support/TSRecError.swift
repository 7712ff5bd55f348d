/// The one error type of the library: what went wrong, where the input was, and what to do.
///
/// Environment failures (files, network, formats) throw this; programmer errors are
/// `precondition`s. `description` is the message a researcher sees, so every case carries the
/// file (and line/field where there is one) and a hint.
public struct TSRecError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A file could not be read or written.
        case io(path: String, reason: String)
        /// A download failed (HTTP status 0 means the transport failed before a response).
        case download(url: String, status: Int, reason: String)
        /// A checksum did not match.
        case checksum(path: String, expected: String, actual: String)
        /// Malformed input: `path`, 1-based `line` (0 when not line-oriented), `field` (may be empty).
        case format(path: String, line: Int, field: String, reason: String)
        /// A GGUF problem (bad magic, truncated, unsupported type, ...).
        case gguf(path: String, reason: String)
        /// A tensor of the wrong shape where a shape is checked at a boundary.
        case shape(name: String, expected: [Int], got: [Int])
        /// An archive entry was refused or libarchive failed.
        case archive(path: String, reason: String)
        /// A checkpoint was missing, corrupt, or from another configuration or version.
        case checkpoint(path: String, reason: String)
        /// A required input is missing (dataset split, model file, keyword file, ...).
        case missing(what: String, path: String)
        /// A configuration value is invalid.
        case config(field: String, reason: String)
        /// The command line itself is wrong (unknown argument, bad value): the one kind that
        /// exits 64 (EX_USAGE) and is shown with the usage text.
        case usage(argument: String, reason: String)
        /// A numeric failure (NaN loss, ...).
        case numeric(String)
    }

    public let kind: Kind
    /// What the user can do about it.
    public let hint: String?

    public init(_ kind: Kind, hint: String? = nil) {
        self.kind = kind
        self.hint = hint
    }

    /// The process exit status for this error (BSD `sysexits.h`), so a script can tell a wrong
    /// command line (64) from bad input data (65) or a failed read/write (74) without parsing
    /// the message. `Launch.run` and the `tsrec` tool exit with it.
    public var exitCode: Int32 {
        switch kind {
        case .usage: ExitStatus.usage
        case .format, .gguf, .shape, .archive, .checkpoint, .checksum: ExitStatus.dataError
        case .missing: ExitStatus.noInput
        case .download: ExitStatus.unavailable
        case .numeric: ExitStatus.software
        case .io: ExitStatus.ioError
        case .config: ExitStatus.config
        }
    }

    public var description: String {
        var text: String
        switch kind {
        case let .io(path, reason): text = "\(path): \(reason)"
        case let .download(url, status, reason):
            text = status == 0 ? "download \(url): \(reason)" : "download \(url): HTTP \(status): \(reason)"
        case let .checksum(path, expected, actual):
            text = "\(path): sha256 mismatch (expected \(expected), got \(actual))"
        case let .format(path, line, field, reason):
            text = path
            if line > 0 { text += ":\(line)" }
            if !field.isEmpty { text += ": field '\(field)'" }
            text += ": \(reason)"
        case let .gguf(path, reason): text = "\(path): GGUF: \(reason)"
        case let .shape(name, expected, got): text = "\(name): expected shape \(expected), got \(got)"
        case let .archive(path, reason): text = "\(path): archive: \(reason)"
        case let .checkpoint(path, reason): text = "\(path): checkpoint: \(reason)"
        case let .missing(what, path): text = "missing \(what): \(path)"
        case let .config(field, reason): text = "config '\(field)': \(reason)"
        case let .usage(argument, reason): text = "argument '\(argument)': \(reason)"
        case let .numeric(reason): text = "numeric failure: \(reason)"
        }
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

/// The exit statuses of tsrec's executables (the BSD `sysexits.h` values).
public enum ExitStatus {
    /// EX_USAGE: the command line is wrong (unknown argument or option, bad value); usage is printed.
    public static let usage: Int32 = 64
    /// EX_DATAERR: an input file is malformed (CSV/JSON row, GGUF, archive, checkpoint, checksum).
    public static let dataError: Int32 = 65
    /// EX_NOINPUT: a required input (dataset split, model file) is missing.
    public static let noInput: Int32 = 66
    /// EX_UNAVAILABLE: a download failed.
    public static let unavailable: Int32 = 69
    /// EX_SOFTWARE: an internal failure (non-finite loss, an unexpected error type).
    public static let software: Int32 = 70
    /// EX_IOERR: a file could not be read or written (unwritable folder, full disk).
    public static let ioError: Int32 = 74
    /// EX_CONFIG: a configuration value is invalid (profile override, run folder ambiguity, ...).
    public static let config: Int32 = 78
}
