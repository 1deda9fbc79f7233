import Logging
import Testing

@testable import Observability

/// What a record looks like on one line: the fields, the quoting that keeps
/// user input from forging lines, and the journal's priorities.
@Suite struct LogLineTests {
    func logfmt(_ message: String, _ fields: Logger.Metadata = [:], level: Logger.Level = .info) -> String {
        var line = ""
        LogLine.logfmt(into: &line, time: nil, level: level, message: message, fields: fields)
        return line
    }

    @Test func logfmtPutsLevelAndMessageFirstAndTheFieldsInOneOrder() {
        #expect(logfmt("worker ready", ["slot": "1", "pid": "42"]) == "level=INFO msg=\"worker ready\" pid=42 slot=1")
        #expect(logfmt("request", ["a": "1", "b": "2"], level: .warning) == "level=WARNING msg=request a=1 b=2")
    }

    @Test func valuesThatCouldBreakTheLineAreQuotedAndEscaped() {
        let forged = logfmt("x", ["query": "grace\nlevel=ERROR msg=\"forged\""])
        #expect(!forged.contains("\n"))
        #expect(forged == #"level=INFO msg=x query="grace\nlevel=ERROR msg=\"forged\"""#)
        #expect(logfmt("x", ["exit": "signal=9"]) == #"level=INFO msg=x exit="signal=9""#)
        #expect(logfmt("x", ["empty": ""]) == #"level=INFO msg=x empty="""#)
        #expect(logfmt("tab\there\u{7}") == #"level=INFO msg="tab\there\u0007""#)
    }

    @Test func jsonIsOneObjectWhateverTheInput() {
        var line = ""
        LogLine.json(into: &line, time: "2026-12-02T18:00:00.000Z", level: .error, message: "a \"b\"\n\u{2028}", fields: ["user_id": "7", "level": "forged"])
        #expect(line == #"{"time":"2026-12-02T18:00:00.000Z","level":"ERROR","msg":"a \"b\"\n\u2028","user_id":"7"}"#)
    }

    @Test func journalPrefixesAreSyslogPriorities() {
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        #expect(levels.map(LogDestination.journal.prefix) == ["<7>", "<7>", "<6>", "<5>", "<4>", "<3>", "<2>"])
        #expect(levels.allSatisfy { LogDestination.stream.prefix($0).isEmpty })
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        let time = Timestamp.now()
        #expect(time.count == 24 && time.hasSuffix("Z") && time.dropFirst(10).first == "T", "\(time)")
    }
}
