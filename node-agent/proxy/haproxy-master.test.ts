import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { haproxyMasterPid, runsConfig, signalDisposition, waitUntilReloadable } from "./haproxy-master";

// The masks of a HAProxy 2.6 master (`haproxy -W -db`) read from /proc while it started: its
// init ignores SIGUSR2 (12: bit 11, 0x800) until its loop installs the handler.
const STARTING =
  "Name:\thaproxy\nState:\tS (sleeping)\nSigBlk:\t0000000000310a01\nSigIgn:\t0000000004001802\nSigCgt:\t0000000100000000\n";
const READY =
  "Name:\thaproxy\nState:\tS (sleeping)\nSigBlk:\t0000000000000000\nSigIgn:\t0000000004001004\nSigCgt:\t0000000100716a03\n";
const EXECED = "Name:\thaproxy\nState:\tR (running)\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n";

describe("signalDisposition", () => {
  it("reads SIGUSR2 as ignored while HAProxy's master starts, caught once it is in its loop, default right after an exec", () => {
    expect(signalDisposition(STARTING, 12)).toBe("ignored");
    expect(signalDisposition(READY, 12)).toBe("caught");
    expect(signalDisposition(EXECED, 12)).toBe("default");
    // SIGHUP (1, bit 0) is caught in READY, SIGINT (2, bit 1) ignored in STARTING.
    expect(signalDisposition(READY, 1)).toBe("caught");
    expect(signalDisposition(STARTING, 2)).toBe("ignored");
  });

  it("refuses a text that is not a process's status", () => {
    expect(() => signalDisposition("Name:\thaproxy\n", 12)).toThrow(/no SigCgt or SigIgn line/);
  });
});

describe("runsConfig", () => {
  it("needs -f followed by exactly that configuration", () => {
    const cmd = (...a: string[]) => `${a.join("\0")}\0`;
    expect(
      runsConfig(
        cmd("haproxy", "-W", "-db", "-f", "/s/proxy/haproxy.cfg", "-p", "/s/p"),
        "/s/proxy/haproxy.cfg",
      ),
    ).toBe(true);
    expect(runsConfig(cmd("haproxy", "-W", "-f", "/other/haproxy.cfg"), "/s/proxy/haproxy.cfg")).toBe(false);
    expect(runsConfig(cmd("vi", "/s/proxy/haproxy.cfg"), "/s/proxy/haproxy.cfg")).toBe(false);
  });
});

/** A shell that ignores SIGUSR2 for `ignoreMs`, then traps it (a handler of its own), then sleeps. */
function shell(ignoreMs: number) {
  const script = `trap '' USR2; sleep ${ignoreMs / 1000}; trap 'echo usr2' USR2; while :; do sleep 0.05; done`;
  return spawn("sh", ["-c", script], { stdio: "ignore" });
}

describe("waitUntilReloadable (a real process's /proc)", () => {
  it("waits while the signal is ignored and resolves once the process catches it", async () => {
    const p = shell(600);
    try {
      const t0 = Date.now();
      await waitUntilReloadable(p.pid as number, 20_000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    } finally {
      p.kill("SIGKILL");
    }
  });

  it("gives up at its bound, saying the signal is ignored", async () => {
    const p = shell(60_000);
    try {
      await expect(waitUntilReloadable(p.pid as number, 300)).rejects.toThrow(
        /within 300 ms \(SIGUSR2 ignored\)/,
      );
    } finally {
      p.kill("SIGKILL");
    }
  });

  it("says so when the process is gone", async () => {
    const p = shell(0);
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
    await expect(waitUntilReloadable(p.pid as number, 5_000)).rejects.toThrow(
      /exited before it could be reloaded/,
    );
  });
});

describe("haproxyMasterPid", () => {
  it("names the pid file's process only while it runs that configuration", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-master-"));
    const pidFile = join(dir, "haproxy.pid");
    const config = join(dir, "haproxy.cfg");
    expect(haproxyMasterPid(pidFile, config)).toBeUndefined();
    // A process whose command line has `-f CONFIG`, like HAProxy's.
    const p = spawn("sh", ["-c", "sleep 30", "-f", config], { stdio: "ignore" });
    try {
      writeFileSync(pidFile, `${p.pid}\n`);
      await new Promise((r) => setTimeout(r, 100));
      expect(haproxyMasterPid(pidFile, config)).toBe(p.pid);
      expect(haproxyMasterPid(pidFile, join(dir, "other.cfg"))).toBeUndefined();
      // A pid file naming another process (this one: a reused pid).
      writeFileSync(pidFile, `${process.pid}\n`);
      expect(haproxyMasterPid(pidFile, config)).toBeUndefined();
      writeFileSync(pidFile, "not a pid\n");
      expect(haproxyMasterPid(pidFile, config)).toBeUndefined();
    } finally {
      p.kill("SIGKILL");
    }
  });
});
