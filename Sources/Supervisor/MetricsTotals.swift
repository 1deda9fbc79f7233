/// Prometheus series summed over every worker the supervisor has run.
///
/// Each worker reports its cumulative series as Prometheus text. The totals
/// are the live workers' latest reports plus, for cumulative families
/// (counters and histograms), the last report of every worker that exited,
/// so a counter never goes backwards when a worker dies or is replaced.
/// Gauges count only live workers.
struct MetricsTotals {
    /// One worker's report: sample line (`name{labels}`) → value, in order.
    struct Report {
        var samples: [(series: Substring, value: Double)] = []
    }

    /// `# HELP` / `# TYPE` lines by family, in the order first seen.
    private var descriptions: [(family: Substring, lines: [Substring])] = []
    private var cumulativeFamilies: Set<Substring> = []
    private var latest: [pid_t: Report] = [:]
    /// The exited workers' cumulative series.
    private var retired: [Substring: Double] = [:]

    /// Records a worker's latest report.
    mutating func record(_ exposition: String, from worker: pid_t) {
        var report = Report()
        for line in exposition.split(separator: "\n") {
            if line.hasPrefix("#") {
                learnDescription(line)
            } else if let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) {
                report.samples.append((line[..<space], value))
            }
        }
        latest[worker] = report
    }

    /// A worker exited: its cumulative series stay in the totals.
    mutating func retire(_ worker: pid_t) {
        guard let report = latest.removeValue(forKey: worker) else { return }
        for (series, value) in report.samples where cumulativeFamilies.contains(family(of: series)) {
            retired[series, default: 0] += value
        }
    }

    /// The totals as Prometheus text, followed by `extra` (the supervisor's own series).
    func exposition(appending extra: String) -> String {
        var sums: [Substring: Double] = retired
        var order: [Substring] = Array(retired.keys).sorted()
        for report in latest.values {
            for (series, value) in report.samples {
                if sums[series] == nil { order.append(series) }
                sums[series, default: 0] += value
            }
        }
        var byFamily: [Substring: [Substring]] = [:]
        for series in order { byFamily[family(of: series), default: []].append(series) }
        var text = ""
        for (family, lines) in descriptions {
            guard let series = byFamily.removeValue(forKey: family) else { continue }
            for line in lines { text += line + "\n" }
            for name in series { text += "\(name) \(Self.format(sums[name]!))\n" }
        }
        for series in byFamily.values.joined() { text += "\(series) \(Self.format(sums[series]!))\n" }
        return text + extra
    }

    private mutating func learnDescription(_ line: Substring) {
        let words = line.split(separator: " ", maxSplits: 3)
        guard words.count >= 3, words[1] == "HELP" || words[1] == "TYPE" else { return }
        let family = words[2]
        if words[1] == "TYPE", words.count == 4, words[3] == "counter" || words[3] == "histogram" {
            cumulativeFamilies.insert(family)
        }
        if let index = descriptions.firstIndex(where: { $0.family == family }) {
            if !descriptions[index].lines.contains(line) { descriptions[index].lines.append(line) }
        } else {
            descriptions.append((family, [line]))
        }
    }

    /// The family a sample belongs to: its name without labels or a histogram suffix.
    private func family(of series: Substring) -> Substring {
        let name = series.prefix { $0 != "{" }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = name.dropLast(suffix.count)
            if cumulativeFamilies.contains(base) || descriptions.contains(where: { $0.family == base }) { return base }
        }
        return name
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

#if canImport(Glibc)
import Glibc
#endif
