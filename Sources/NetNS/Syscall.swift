#if canImport(Glibc)
import Glibc
#endif

/// The one place a system call is retried when a signal interrupted it
/// (EINTR): every adapter calls through it instead of writing its own loop.
public enum Syscall {
    /// Calls `body` until it does not fail with EINTR; returns its result
    /// (a negative result leaves the call's errno in `errno`).
    @inlinable
    public static func retryingInterrupts<T: SignedInteger>(_ body: () -> T) -> T {
        while true {
            let result = body()
            if result >= 0 || errno != EINTR { return result }
        }
    }
}
