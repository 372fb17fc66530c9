#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (kernel requests: a veth pair, a link dump) on its
/// own thread while the caller goes on; `wait` joins it. A plain pthread:
/// Foundation's Thread would pull all of Foundation into the CNI plugin.
/// The thread starts in the caller's network namespace. When no thread
/// can be had, the work runs in the initializer instead.
public final class BackgroundTask<T>: @unchecked Sendable {
    private final class Outcome: @unchecked Sendable {
        var result: Result<T, Error>?
    }
    private let outcome = Outcome()
    private let thread: pthread_t?

    public init(_ body: @escaping @Sendable () throws -> T) {
        let outcome = self.outcome
        let work = { outcome.result = Result { try body() } }
        thread = startThread(work)
        if thread == nil { work() }
    }

    public func wait() -> Result<T, Error> {
        if let thread { pthread_join(thread, nil) }
        return outcome.result!
    }
}

extension BackgroundTask where T: Sendable {
    /// Runs blocking work (a datastore transaction, netlink, a namespace)
    /// on a dedicated pthread and resumes the awaiting task with its
    /// result: async code never blocks a thread of Swift's cooperative
    /// pool (docs/architecture.md, "Concurrency").
    public static func run(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            do { try BackgroundTask<Void>.detached { continuation.resume(with: Result { try body() }) } } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}

extension BackgroundTask where T == Void {
    /// Starts `body` on a dedicated pthread that nobody joins (a monitor
    /// loop that ends by itself when told to stop).
    public static func detached(_ body: @escaping @Sendable () -> Void) throws {
        guard let thread = startThread(body) else { throw NetNSError(operation: "pthread_create", errno: errno) }
        pthread_detach(thread)
    }
}

/// Runs a closure on a dedicated pthread and joins it (never on the
/// caller's thread: the closure may change the thread's namespace).
enum ThreadRunner {
    static func run<T>(_ body: @escaping () throws -> T) throws -> T {
        var result: Result<T, Error>?
        guard let thread = startThread({ result = Result { try body() } }) else {
            throw NetNSError(operation: "pthread_create", errno: errno)
        }
        pthread_join(thread, nil)
        return try result!.get()
    }
}

/// Starts `work` on a new joinable pthread; nil when none can be had
/// (errno set).
private func startThread(_ work: @escaping () -> Void) -> pthread_t? {
    let entry = Unmanaged.passRetained(ThreadEntry(work))
    var handle = pthread_t()
    let rc = pthread_create(&handle, nil, threadEntryPoint, entry.toOpaque())
    guard rc == 0 else {
        entry.release()
        errno = rc
        return nil
    }
    return handle
}

/// A thread's body, boxed for pthread_create's context pointer.
private final class ThreadEntry {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

private func threadEntryPoint(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    Unmanaged<ThreadEntry>.fromOpaque(context!).takeRetainedValue().run()
    return nil
}
