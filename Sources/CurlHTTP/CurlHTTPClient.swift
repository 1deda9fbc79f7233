// The only file that calls libcurl.
import CCurl
import NIOPosix
import Primitives
import Synchronization

/// An HTTP client over libcurl's multi interface that never blocks its
/// callers' threads: one thread per client runs every transfer
/// (`curl_multi_poll`), and each caller awaits its own response.
///
/// Connections are reused across requests, TLS peers are verified (libcurl's
/// default), every request has a connect and a total timeout and a response
/// size cap, and cancelling the awaiting task aborts the transfer (the
/// connection is closed, so the server sees it).
///
/// Threading: `multi` and every easy handle are touched only by the client's
/// thread, except `curl_multi_wakeup`, which libcurl documents as callable
/// from any thread.
public final class CurlHTTPClient: Sendable {
    public struct Request: Sendable {
        public var url: String
        public var headers: [(name: String, value: String)]
        /// Sent as a POST body when not nil.
        public var body: [UInt8]?
        public var connectTimeout: Duration
        public var totalTimeout: Duration
        public var maxResponseBytes: Int
        /// Response headers to return (e.g. `Retry-After`).
        public var responseHeaders: [String]
        /// When set, a 2xx response's body is handed here as it arrives (on the
        /// client's thread: it must not block) instead of being collected; false aborts the transfer.
        public var onSuccessBody: (@Sendable (ArraySlice<UInt8>) -> Bool)?

        public init(
            url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
            connectTimeout: Duration = .seconds(5), totalTimeout: Duration, maxResponseBytes: Int = 4 << 20, responseHeaders: [String] = [],
            onSuccessBody: (@Sendable (ArraySlice<UInt8>) -> Bool)? = nil
        ) {
            self.url = url
            self.headers = headers
            self.body = body
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.maxResponseBytes = maxResponseBytes
            self.responseHeaders = responseHeaders
            self.onSuccessBody = onSuccessBody
        }
    }

    public struct Response: Sendable {
        public let status: Int
        /// The requested response headers that were present, by the name asked for.
        public let headers: [String: String]
        /// Empty when ``Request/onSuccessBody`` took a 2xx body.
        public let body: [UInt8]
    }

    private struct Multi: @unchecked Sendable {
        let handle: UnsafeMutableRawPointer
    }

    private struct Inbox {
        var submitted: [Transfer] = []
        var cancelled: [UInt64] = []
        var nextID: UInt64 = 1
        var isShutDown = false
    }

    private let multi: Multi
    private let inbox = Mutex(Inbox())
    private let thread = NIOThreadPool(numberOfThreads: 1)

    /// The most idle connections kept for reuse (CURLMOPT_MAXCONNECTS; the
    /// default grows with the transfers, so a burst would leave as many open).
    public static let maxCachedConnections = 16

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init() {
        Self.globalInit
        multi = Multi(handle: curl_multi_init())
        ccurl_multi_setopt_long(multi.handle, CURLMOPT_MAXCONNECTS, Self.maxCachedConnections)
        thread.start()
        thread.submit { _ in self.run() }  // until shutdown()
    }

    /// Performs `request`; throws ``CurlHTTPError`` on transport failures (an
    /// HTTP error status is a response, not an error) and `CancellationError`
    /// when the calling task is cancelled.
    public func execute(_ request: Request) async throws -> Response {
        try Task.checkCancellation()
        let id = inbox.withLock { inbox in
            defer { inbox.nextID += 1 }
            return inbox.nextID
        }
        let result: Result<Response, any Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let transfer = Transfer(id: id, request: request, continuation: continuation)
                let accepted = inbox.withLock { inbox in
                    guard !inbox.isShutDown else { return false }
                    inbox.submitted.append(transfer)
                    return true
                }
                if accepted { curl_multi_wakeup(multi.handle) } else { continuation.resume(returning: .failure(CurlHTTPError.shutDown)) }
            }
        } onCancel: {
            inbox.withLock { $0.cancelled.append(id) }
            curl_multi_wakeup(multi.handle)
        }
        return try result.get()
    }

    /// Aborts every transfer and stops the client's thread.
    public func shutdown() {
        inbox.withLock { $0.isShutDown = true }
        curl_multi_wakeup(multi.handle)
    }

    // MARK: - The client's thread

    private func run() {
        let multi = self.multi.handle
        var transfers: [UnsafeMutableRawPointer: Transfer] = [:]
        while true {
            let (submitted, cancelled, isShutDown) = inbox.withLock { inbox in
                defer { (inbox.submitted, inbox.cancelled) = ([], []) }
                return (inbox.submitted, inbox.cancelled, inbox.isShutDown)
            }
            for transfer in submitted {
                if let easy = transfer.start() {
                    curl_multi_add_handle(multi, easy)
                    transfers[easy] = transfer
                } else {
                    transfer.finish(Result.failure(CurlHTTPError.transport("cannot create a transfer")))
                }
            }
            for (easy, transfer) in transfers where isShutDown || cancelled.contains(transfer.id) {
                curl_multi_remove_handle(multi, easy)
                transfers[easy] = nil
                transfer.finish(Result.failure(isShutDown ? CurlHTTPError.shutDown as any Error : CancellationError()))
            }
            if isShutDown {
                curl_multi_cleanup(multi)
                return
            }
            var running: CInt = 0
            curl_multi_perform(multi, &running)
            var left: CInt = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle, let transfer = transfers.removeValue(forKey: easy) else { continue }
                let code = ccurl_message_result(message)
                curl_multi_remove_handle(multi, easy)
                transfer.finish(transfer.outcome(code))
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }
}

/// A transport failure: no HTTP response was received (in full).
public enum CurlHTTPError: Error, Equatable, Sendable {
    case timedOut
    case connectionFailed(String)
    case responseTooLarge
    /// ``CurlHTTPClient/Request/onSuccessBody`` refused what came.
    case abortedByReader
    case transport(String)
    case shutDown
}

/// One request in flight. Touched only by the client's thread once submitted.
private final class Transfer: @unchecked Sendable {
    let id: UInt64
    let request: CurlHTTPClient.Request
    private var continuation: CheckedContinuation<Result<CurlHTTPClient.Response, any Error>, Never>?
    private var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    var received: [UInt8] = []
    /// Bytes of the body so far, collected or handed over.
    var bodyBytes = 0
    var exceededLimit = false
    var abortedByReader = false

    init(id: UInt64, request: CurlHTTPClient.Request, continuation: CheckedContinuation<Result<CurlHTTPClient.Response, any Error>, Never>) {
        self.id = id
        self.request = request
        self.continuation = continuation
    }

    /// Creates and configures the easy handle.
    func start() -> UnsafeMutableRawPointer? {
        guard let easy = curl_easy_init() else { return nil }
        self.easy = easy
        ccurl_setopt_string(easy, CURLOPT_URL, request.url)
        ccurl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds))
        ccurl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(request.totalTimeout.milliseconds))
        ccurl_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maxResponseBytes))
        ccurl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        for header in request.headers {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        if let headerList { ccurl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList) }
        if let body = request.body {
            ccurl_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBytes { bytes in
                _ = ccurl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        ccurl_setopt_write_function(easy) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            guard transfer.bodyBytes + length <= transfer.request.maxResponseBytes else {
                transfer.exceededLimit = true
                return 0  // aborts the transfer
            }
            transfer.bodyBytes += length
            let bytes = data.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
            if let reader = transfer.request.onSuccessBody, transfer.isSuccess {
                guard reader(bytes[...]) else {
                    transfer.abortedByReader = true
                    return 0
                }
            } else {
                transfer.received += bytes
            }
            return length
        }
        ccurl_setopt_pointer(easy, CURLOPT_WRITEDATA, Unmanaged.passUnretained(self).toOpaque())
        return easy
    }

    /// Whether the response's status (known once its headers are in) is 2xx.
    var isSuccess: Bool {
        var status = 0
        if let easy { ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status) }
        return (200..<300).contains(status)
    }

    /// The response, or the transport error, once libcurl reports the transfer done.
    func outcome(_ code: CURLcode) -> Result<CurlHTTPClient.Response, any Error> {
        guard let easy else { return .failure(CurlHTTPError.transport("no transfer")) }
        switch code {
        case CURLE_OK:
            var status = 0
            ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            var headers: [String: String] = [:]
            for name in request.responseHeaders {
                if let value = ccurl_response_header(easy, name) { headers[name] = String(cString: value) }
            }
            return .success(.init(status: status, headers: headers, body: received))
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(CurlHTTPError.timedOut)
        case CURLE_FILESIZE_EXCEEDED:
            return .failure(CurlHTTPError.responseTooLarge)
        case CURLE_WRITE_ERROR where exceededLimit:
            return .failure(CurlHTTPError.responseTooLarge)
        case CURLE_WRITE_ERROR where abortedByReader:
            return .failure(CurlHTTPError.abortedByReader)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .failure(CurlHTTPError.connectionFailed(String(cString: curl_easy_strerror(code))))
        default:
            return .failure(CurlHTTPError.transport(String(cString: curl_easy_strerror(code))))
        }
    }

    /// Frees the handle and resumes the caller, once.
    func finish(_ result: Result<CurlHTTPClient.Response, any Error>) {
        if let easy { curl_easy_cleanup(easy) }
        easy = nil
        curl_slist_free_all(headerList)
        headerList = nil
        continuation?.resume(returning: result)
        continuation = nil
    }
}
