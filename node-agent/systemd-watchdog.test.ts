import { describe, expect, it, vi } from "vitest";
import { createLogger } from "../lib/log";
import { startWatchdog, watchdogIntervalMs } from "./systemd-watchdog";

describe("watchdogIntervalMs", () => {
  it("pings at half the period systemd asks for, only when it asks, and only for its process", () => {
    const env = { NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "120000000" };
    expect(watchdogIntervalMs(env, 42)).toBe(60_000);
    expect(watchdogIntervalMs({ ...env, WATCHDOG_PID: "42" }, 42)).toBe(60_000);
    expect(watchdogIntervalMs({ ...env, WATCHDOG_PID: "7" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "120000000" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: "/run/x" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ ...env, WATCHDOG_USEC: "1000" }, 42)).toBe(1000);
  });
});

describe("startWatchdog", () => {
  it("pings at once and then every interval, until stopped", () => {
    // The interval on vitest's clock: exact counts, no wait, whatever the machine's load.
    vi.useFakeTimers();
    try {
      let pings = 0;
      const stop = startWatchdog(
        createLogger("watchdog-test"),
        async () => {
          pings++;
        },
        { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "2000000" },
      );
      expect(pings).toBe(1);
      vi.advanceTimersByTime(999);
      expect(pings).toBe(1);
      vi.advanceTimersByTime(1_001);
      expect(pings).toBe(3);
      stop();
      vi.advanceTimersByTime(5_000);
      expect(pings).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it("does nothing when systemd asks for no watchdog", () => {
    let pings = 0;
    startWatchdog(createLogger("watchdog-test"), async () => void pings++, {})();
    expect(pings).toBe(0);
  });
});
