import Hummingbird

/// GET /metrics: Prometheus text totalled over every worker, gathered by the
/// supervisor. 503 when the totals do not arrive in time: this worker's own
/// series alone would make counters appear to go backwards.
struct MetricsRoutes {
    let totals: @Sendable () async -> String?

    func add(to router: Router<AppRequestContext>) {
        router.get("/metrics") { _, _ in
            guard let text = await totals() else {
                throw APIError(.serviceUnavailable, "Metrics totals are unavailable right now; try again")
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
