import Hummingbird

/// Answers a request whose path is a route's but whose method is not with
/// 405 and `Allow` (RFC 9110 §15.5.6), whatever the method (QUERY, PROPFIND;
/// one the HTTP parser does not know is 400).
/// Added after every route, it wraps only the router's not-found responder;
/// HEAD is allowed wherever GET is (the router generates those endpoints).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// A route's path segments (`{id}` matches any segment) and its `Allow` value.
    let routes: [(segments: [Substring], allow: String)]

    init(routes: [Router<AppRequestContext>.RouteDescription]) {
        let byPath = Dictionary(grouping: routes, by: \.path.description)
        self.routes = byPath.keys.sorted().map { path in
            var methods = Set(byPath[path]!.map(\.method.rawValue))
            if methods.contains("GET") { methods.insert("HEAD") }
            return (path.split(separator: "/"), methods.sorted().joined(separator: ", "))
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let segments = request.uri.path.split(separator: "/")
        guard let route = routes.first(where: { Self.matches($0.segments, segments) }) else { return try await next(request, context) }
        throw APIError(.methodNotAllowed, "Method \(request.method) not allowed; allowed: \(route.allow)", headers: [.allow: route.allow])
    }

    static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        pattern.count == segments.count && zip(pattern, segments).allSatisfy { part, segment in
            part.first == "{" || part.first == ":" || part == segment
        }
    }
}
