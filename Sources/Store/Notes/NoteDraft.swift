/// The fields of a sermon note that a user writes (API body or JSONL line:
/// `{"title","body","preached_on"?,"speaker"?}`).
public struct NoteDraft: Sendable, Equatable, Decodable {
    public static let maxTitleCharacters = 300
    public static let maxBodyCharacters = 200_000
    public static let maxSpeakerCharacters = 200

    public var title: String
    public var body: String
    /// An ISO date, `YYYY-MM-DD`.
    public var preachedOn: String?
    public var speaker: String?

    public init(title: String, body: String, preachedOn: String? = nil, speaker: String? = nil) {
        self.title = title
        self.body = body
        self.preachedOn = preachedOn
        self.speaker = speaker
    }

    enum CodingKeys: String, CodingKey {
        case title, body, speaker
        case preachedOn = "preached_on"
    }

    /// Why the draft cannot be stored, or nil when it can.
    public func problem() -> String? {
        if title.trimmingCharacters().isEmpty { return "'title' is empty" }
        if title.count > Self.maxTitleCharacters { return "'title' is longer than \(Self.maxTitleCharacters) characters" }
        if body.trimmingCharacters().isEmpty { return "'body' is empty" }
        if body.count > Self.maxBodyCharacters { return "'body' is longer than \(Self.maxBodyCharacters) characters" }
        if let speaker, speaker.count > Self.maxSpeakerCharacters { return "'speaker' is longer than \(Self.maxSpeakerCharacters) characters" }
        if let preachedOn, !Self.isCalendarDate(preachedOn) { return "'preached_on' is not a date YYYY-MM-DD" }
        if [title, body, speaker ?? ""].contains(where: { $0.utf8.contains(0) }) { return "a field contains a NUL character" }
        return nil
    }

    /// Whether `text` is `YYYY-MM-DD` naming a real day.
    static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              year >= 1, (1...12).contains(month), day >= 1
        else { return false }
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }
}

extension NoteDraft: ImportRecord {}
