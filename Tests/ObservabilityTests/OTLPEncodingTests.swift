import Foundation
import Settings
import Testing
import Tracing

@testable import Observability

/// The OTLP request the exporter posts, byte for byte: protobuf as
/// OpenTelemetry's own generated classes write it (scripts/otlp-reference),
/// and OTLP's JSON mapping with its hex ids.
@Suite struct OTLPEncodingTests {
    static let reference = "0a90040a90010a1e0a0c736572766963652e6e616d65120e0a0c736372696265732d746573740a210a1674656c656d657472792e73646b2e6c616e677561676512070a0573776966740a290a1274656c656d657472792e73646b2e6e616d6512130a11736372696265732d617373697374616e740a200a166465706c6f796d656e742e656e7669726f6e6d656e7412060a047465737412fa020a130a11736372696265732d617373697374616e7412f5010a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b7220811223344556677882a0f636861742066616b652d6d6f64656c30033900002a36fe9c97174115cd853dfe9c97174a0c0a06612e626f6f6c120210004a150a08612e646f75626c65120921000000000000f83f4a140a05612e696e74120b18d6ffffffffffffffff014a150a06612e6c697374120b2a090a030a01780a020a004a140a08612e737472696e6712080a066772c3a263655a370900e11f3cfe9c97171209657863657074696f6e1a210a0e657863657074696f6e2e74797065120f0a0d4375726c485454504572726f727a0712033530301802126b0a104bf92f3577b34da6a3ce929d0e0e4736120801020304050607082a0961646d697373696f6e30013901002a36fe9c97174102002a36fe9c97176a2e0a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b722100a0377687912090a07666f6c6c6f7773"

    static let traceID = SpanContext.bytes(hex: "4bf92f3577b34da6a3ce929d0e0e4736", count: 16)!
    static let chatID = SpanContext.bytes(hex: "00f067aa0ba902b7", count: 8)!

    /// The spans scripts/otlp-reference builds.
    static var spans: [RecordedSpan] {
        var attributes = SpanAttributes()
        attributes["a.string"] = "grâce"
        attributes["a.int"] = SpanAttribute.int64(-42)
        attributes["a.double"] = 1.5
        attributes["a.bool"] = false
        attributes["a.list"] = SpanAttribute.stringArray(["x", ""])
        var exception = SpanAttributes()
        exception["exception.type"] = "CurlHTTPError"
        var why = SpanAttributes()
        why["why"] = "follows"
        let chat = SpanContext(traceID: traceID, spanID: chatID, sampled: true)
        return [
            RecordedSpan(
                context: chat, parentSpanID: SpanContext.bytes(hex: "1122334455667788", count: 8), name: "chat fake-model", kind: .client,
                start: 1_700_000_000_000_000_000, end: 1_700_000_000_123_456_789, attributes: attributes, status: SpanStatus(code: .error, message: "500"),
                events: [.init(name: "exception", time: 1_700_000_000_100_000_000, attributes: exception)], links: []),
            RecordedSpan(
                context: SpanContext(traceID: traceID, spanID: [1, 2, 3, 4, 5, 6, 7, 8], sampled: true), parentSpanID: nil, name: "admission",
                kind: .internal, start: 1_700_000_000_000_000_001, end: 1_700_000_000_000_000_002, attributes: [:], status: nil, events: [],
                links: [.init(context: chat, attributes: why)]),
        ]
    }

    static func encoding(_ protocolName: String) throws -> OTLPEncoding {
        let reader = ConfigurationReader(environment: [
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocolName, "OTEL_SERVICE_NAME": "scribes-test",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment=test",
        ])
        return OTLPEncoding(settings: try ObservabilitySettings(reading: reader))
    }

    @Test func protobufIsWhatOpenTelemetrysOwnClassesWrite() throws {
        let encoding = try Self.encoding("http/protobuf")
        #expect(encoding.contentType == "application/x-protobuf")
        #expect(SpanContext.hex(encoding.request(Self.spans)) == Self.reference)
    }

    @Test func jsonWritesIdsInHexAndSixtyFourBitNumbersAsStrings() throws {
        let encoding = try Self.encoding("http/json")
        #expect(encoding.contentType == "application/json")
        let body = encoding.request(Self.spans)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let resourceSpans = try #require((root["resourceSpans"] as? [[String: Any]])?.first)
        let resource = try #require((resourceSpans["resource"] as? [String: Any])?["attributes"] as? [[String: Any]])
        #expect(resource.compactMap { $0["key"] as? String } == ["service.name", "telemetry.sdk.language", "telemetry.sdk.name", "deployment.environment"])
        #expect((resource[0]["value"] as? [String: String])?["stringValue"] == "scribes-test")
        let spans = try #require(((resourceSpans["scopeSpans"] as? [[String: Any]])?.first?["spans"]) as? [[String: Any]])
        #expect(spans.count == 2)
        let chat = spans[0]
        #expect(chat["traceId"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(chat["spanId"] as? String == "00f067aa0ba902b7")
        #expect(chat["parentSpanId"] as? String == "1122334455667788")
        #expect(chat["kind"] as? Int == 3)
        #expect(chat["startTimeUnixNano"] as? String == "1700000000000000000")
        #expect(chat["endTimeUnixNano"] as? String == "1700000000123456789")
        let attributes = try #require(chat["attributes"] as? [[String: Any]])
        let values = Dictionary(uniqueKeysWithValues: attributes.map { ($0["key"] as? String ?? "", $0["value"] as? [String: Any] ?? [:]) })
        #expect(values["a.int"]?["intValue"] as? String == "-42")
        #expect(values["a.double"]?["doubleValue"] as? Double == 1.5)
        #expect(values["a.bool"]?["boolValue"] as? Bool == false)
        #expect(values["a.string"]?["stringValue"] as? String == "grâce")
        #expect(((values["a.list"]?["arrayValue"] as? [String: Any])?["values"] as? [[String: String]])?.map { $0["stringValue"] } == ["x", ""])
        #expect((chat["status"] as? [String: Any])?["code"] as? Int == 2)
        #expect(((chat["events"] as? [[String: Any]])?.first)?["timeUnixNano"] as? String == "1700000000100000000")
        #expect(spans[1]["parentSpanId"] == nil)
        #expect(((spans[1]["links"] as? [[String: Any]])?.first)?["spanId"] as? String == "00f067aa0ba902b7")
    }

    @Test func aTraceparentReadsBackAndMalformedOnesStartANewTrace() {
        let context = SpanContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(context?.traceID == Self.traceID && context?.spanID == Self.chatID && context?.sampled == true)
        #expect(context?.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(SpanContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled == false)
        for malformed in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "00-4bf92f35-00f067aa0ba902b7-01", "",
        ] {
            #expect(SpanContext(traceparent: malformed) == nil, "\(malformed)")
        }
    }

    @Test func theRatioSamplerDecidesByTheTraceIDAndParentBasedOnesFollowTheParent() {
        let low = [UInt8](repeating: 0, count: 8) + [0, 0, 0, 0, 0, 0, 0, 1]
        let high = [UInt8](repeating: 0xFF, count: 16)
        let half = Sampler(choice: .traceIDRatio, ratio: 0.5)
        #expect(half.samples(traceID: low, parent: nil) && !half.samples(traceID: high, parent: nil))
        #expect(!Sampler(choice: .traceIDRatio, ratio: 0).samples(traceID: low, parent: nil))
        let unsampled = SpanContext(traceID: high, spanID: Self.chatID, sampled: false)
        #expect(!Sampler(choice: .parentBasedAlwaysOn, ratio: 1).samples(traceID: high, parent: unsampled))
        #expect(Sampler(choice: .parentBasedAlwaysOn, ratio: 1).samples(traceID: high, parent: nil))
        #expect(!Sampler(choice: .parentBasedTraceIDRatio, ratio: 1).samples(traceID: low, parent: unsampled))
    }
}
