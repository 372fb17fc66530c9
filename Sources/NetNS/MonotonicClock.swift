#if canImport(Glibc)
import Glibc
#endif

/// The one monotonic clock (CLOCK_MONOTONIC) for durations, timeouts and
/// liveness: a wall-clock step (NTP, an operator) must not move them.
public enum MonotonicClock {
    public static var nanoseconds: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
    public static var seconds: Double { Double(nanoseconds) / 1e9 }
    public static var milliseconds: Int { Int(nanoseconds / 1_000_000) }
}
