// HAProxy's master process (master-worker mode), as /proc shows it: which process is the master
// of a configuration, and whether it acts on a reload signal yet.
//
// Why the second: the master installs its SIGUSR2 handler only when it enters its loop, after it
// forked its worker, and the worker answers on the admin socket before that. Until then HAProxy
// ignores SIGUSR2 (the reload is lost: the old worker goes on answering with the old
// configuration), and right after a reload's re-exec the signal has its default action (it kills
// the master, and the workers exit with it: the admin socket's file stays, and nothing listens).
// Measured on this 2-core machine at a load of ~9: a SIGUSR2 sent as soon as a freshly started
// master's worker answered was lost in 4 starts of 12. So a reload waits until the master catches
// the signal (`SigCgt` in /proc/<pid>/status) before it sends it.
import { readFileSync } from "node:fs";
import { constants } from "node:os";

/** Parses a mask line (`SigCgt:\t0000000100716a03`) of /proc/<pid>/status; undefined if absent. */
function mask(statusText: string, field: "SigCgt" | "SigIgn"): bigint | undefined {
  const m = new RegExp(`^${field}:\\s*([0-9a-fA-F]+)\\s*$`, "m").exec(statusText);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/**
 * What a process does with `signal` now, from its /proc/<pid>/status text: `caught` (a handler of
 * its own), `ignored`, or `default` (the kernel's action: SIGUSR2's terminates).
 */
export function signalDisposition(statusText: string, signal: number): "caught" | "ignored" | "default" {
  const bit = 1n << BigInt(signal - 1);
  const caught = mask(statusText, "SigCgt");
  const ignored = mask(statusText, "SigIgn");
  if (caught === undefined || ignored === undefined)
    throw new Error("not a /proc/<pid>/status text: it has no SigCgt or SigIgn line");
  if ((caught & bit) !== 0n) return "caught";
  return (ignored & bit) !== 0n ? "ignored" : "default";
}

/** Whether the NUL-separated /proc/<pid>/cmdline runs HAProxy with `-f configPath`. */
export function runsConfig(cmdline: string, configPath: string): boolean {
  const args = cmdline.split("\0");
  return args.some((a, i) => a === "-f" && args[i + 1] === configPath);
}

/**
 * The pid in `pidFile` when that process is alive and is HAProxy running `configPath` (a pid file
 * left by a HAProxy that is gone, its pid reused by another process, names no master).
 */
export function haproxyMasterPid(pidFile: string, configPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim().split("\n")[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return runsConfig(readFileSync(`/proc/${pid}/cmdline`, "utf8"), configPath) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves once HAProxy's master `pid` catches SIGUSR2, so a reload signal is acted on; throws
 * when the master exits or `timeoutMs` passes first, saying what it does with the signal.
 */
export async function waitUntilReloadable(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let now: ReturnType<typeof signalDisposition> = "default";
  while (Date.now() < deadline) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/status`, "utf8");
    } catch {
      text = "";
    }
    if (text === "" || /^State:\s*Z/m.test(text))
      throw new Error(`HAProxy's master (pid ${pid}) exited before it could be reloaded`);
    now = signalDisposition(text, constants.signals.SIGUSR2);
    if (now === "caught") return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `HAProxy's master (pid ${pid}) did not get ready for a reload within ${timeoutMs} ms (SIGUSR2 ${now === "ignored" ? "ignored" : "not handled"}): it is still starting`,
  );
}
