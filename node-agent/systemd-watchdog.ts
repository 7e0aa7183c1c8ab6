// systemd's watchdog for the agent (WatchdogSec= in its unit, components/deployment-node/
// cloud-init.ts; not the upgrade trial's, upgrade/watchdog.ts): while the agent runs, it tells the service manager every half period that its
// event loop still turns; when the pings stop (the loop blocked, the process hung), systemd kills
// and restarts the agent, which then recovers as after any crash. Node cannot send the unix
// datagram of sd_notify itself, so `systemd-notify WATCHDOG=1` sends it (the unit sets
// NotifyAccess=all so that a child may).
import type { Logger } from "../lib/log";
import { run } from "../lib/process";

/** The ping interval systemd asks for (half of WATCHDOG_USEC), or undefined when it asks none. */
export function watchdogIntervalMs(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.NOTIFY_SOCKET || !Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID, when set, names the process the watchdog is for: not a child we started.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1000, Math.floor(usec / 2000));
}

/** Starts pinging when systemd asks for it; returns the function that stops. */
export function startWatchdog(
  log: Logger,
  ping: () => Promise<unknown> = () => run("systemd-notify", ["WATCHDOG=1"], { timeoutMs: 10_000 }),
  env: Readonly<Record<string, string | undefined>> = process.env,
): () => void {
  const every = watchdogIntervalMs(env, process.pid);
  if (every === undefined) return () => undefined;
  log.info({ everyMs: every }, "systemd watchdog: pinging");
  let failing = false;
  const beat = () =>
    void ping().then(
      () => {
        failing = false;
      },
      (e: unknown) => {
        if (!failing) log.warn({ err: String(e) }, "systemd watchdog: ping failed");
        failing = true;
      },
    );
  beat();
  const t = setInterval(beat, every);
  t.unref();
  return () => clearInterval(t);
}
