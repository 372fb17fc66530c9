#if canImport(Glibc)
import Glibc
#endif
import NetNS

/// Phase timestamps of one invocation, on stderr, when
/// `CARACAL_CNI_TIMELINE=1` (profiling the plugin's latency; docs/cni.md).
/// Each line is `timeline <phase> <CLOCK_MONOTONIC µs>`, so a driver that
/// reads the same clock before spawning the plugin sees process start too.
public enum Timeline {
    nonisolated(unsafe) public static var enabled = false

    public static func mark(_ phase: StaticString) {
        guard enabled else { return }
        let us = Int(MonotonicClock.nanoseconds / 1000)
        let line = "timeline \(phase) \(us)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
