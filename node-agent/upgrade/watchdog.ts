// The watchdog of an agent upgrade, run from the previous bundle (`berth-agent upgrade-watch`):
// until the trial's deadline it waits for the new agent to confirm (upgrader.ts: confirm). When
// the deadline passes first, or (exec mode) the new agent's process is gone, it decides the trial
// (decision.ts), puts the previous bundle back with one rename, records why, stops the new agent,
// writes the node's signed agent status with that reason (so `pulumi up` reads the verdict at
// once) and starts the previous one (systemd: its unit restarts it).
import { existsSync, readFileSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import { fsyncDir } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";
import { alive } from "../../lib/pid";
import { run } from "../../lib/process";
import { decideTrial } from "./decision";
import { handoverCommands, type RestartMode, startDetached, trialLogPath } from "./handover";
import { readAgentPid, readRecord, writeAgentPid, writeRecord } from "./record";

export interface WatchOptions {
  stateRoot: string;
  configFile: string;
  mode: RestartMode;
  log: Logger;
  pollMs?: number;
  /** exec mode: a new agent whose process is gone this long has failed, deadline or not. */
  goneMs?: number;
  /**
   * Writes the node's signed agent status (the previous version, the rolled-back record), so the
   * verdict and its reason reach the channel now, not once the previous agent has started again.
   */
  report?: () => Promise<unknown>;
}

/** The systemd unit cloud nodes run the agent as (components/deployment-node/cloud-init.ts). */
const AGENT_UNIT = "berth-agent.service";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** systemd: the new agent's fatal errors since the trial began, from the journal (bounded). */
async function journalErrors(since: string): Promise<string | undefined> {
  try {
    const r = await run(
      "journalctl",
      [
        "--unit",
        AGENT_UNIT,
        "--since",
        `@${Math.floor(Date.parse(since) / 1000)}`,
        "--lines",
        "200",
        "--output",
        "cat",
        "--no-pager",
      ],
      { allowFailure: true, timeoutMs: 5000 },
    );
    // The agent's fatal errors are its lines that start with "berth-agent:" (cli/bin.ts).
    const lines = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("berth-agent:"))
      .slice(-3);
    return r.exitCode === 0 && lines.length > 0 ? lines.join(" | ").slice(0, 600) : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines the new agent wrote to stderr (exec mode), bounded. */
function trialErrors(stateRoot: string): string | undefined {
  try {
    const text = readFileSync(trialLogPath(stateRoot), "utf8").slice(-4096);
    const lines = text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .slice(-3);
    return lines.length > 0 ? lines.join(" | ").slice(0, 600) : undefined;
  } catch {
    return undefined;
  }
}

async function stop(pid: number | undefined): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid as number, "SIGTERM");
  for (let n = 0; n < 100 && alive(pid); n++) await sleep(100);
  if (alive(pid)) process.kill(pid as number, "SIGKILL");
}

/** Returns what happened: the new agent confirmed, or it was rolled back (and why). */
export async function watchTrial(
  o: WatchOptions,
): Promise<{ outcome: "confirmed" | "rolled-back" | "none"; reason?: string }> {
  const first = readRecord(o.stateRoot);
  if (first?.state !== "trial" || !first.deadline || !first.bundlePath) return { outcome: "none" };
  const bundlePath = first.bundlePath;
  const deadline = Date.parse(first.deadline);
  let goneSince: number | undefined;
  let why: string | undefined;
  while (Date.now() < deadline) {
    const r = readRecord(o.stateRoot);
    if (r?.state !== "trial") return { outcome: "confirmed" };
    if (o.mode === "exec") {
      const pid = readAgentPid(o.stateRoot);
      if (pid !== undefined && pid !== process.pid && !alive(pid)) {
        goneSince ??= Date.now();
        if (Date.now() - goneSince >= (o.goneMs ?? 1000)) {
          why = `agent ${first.version} exited before it reported`;
          break;
        }
      } else goneSince = undefined;
    }
    await sleep(o.pollMs ?? 200);
  }
  if (!decideTrial(o.stateRoot)) return { outcome: "confirmed" };
  const r = readRecord(o.stateRoot) ?? first;
  const seconds = Math.round((deadline - Date.parse(first.at)) / 1000);
  const said = o.mode === "exec" ? trialErrors(o.stateRoot) : await journalErrors(first.at);
  const reason = [
    why ?? `agent ${first.version} did not report within ${seconds} s`,
    r.reason ? `its error: ${r.reason}` : said ? `it said: ${said}` : undefined,
    `back on ${first.from}`,
  ]
    .filter(Boolean)
    .join("; ");
  if (first.previousBundle && existsSync(first.previousBundle)) {
    renameSync(first.previousBundle, bundlePath);
    fsyncDir(dirname(bundlePath));
  }
  writeRecord(o.stateRoot, {
    ...r,
    state: "rolled-back",
    at: new Date().toISOString(),
    reason,
    failed: [...r.failed, ...(r.sha256 ? [r.sha256] : [])].slice(-20),
  });
  o.log.error({ version: first.version, from: first.from, reason }, "agent upgrade rolled back");
  const pid = readAgentPid(o.stateRoot);
  if (pid !== process.pid) await stop(pid);
  // After the stop: a new agent still running could otherwise write its own version over it.
  await o
    .report?.()
    .catch((e: Error) =>
      o.log.warn({ err: e.message }, "could not write the agent's status; the previous agent will"),
    );
  if (o.mode === "exec") {
    const cmd = handoverCommands(
      {
        version: first.from,
        from: first.from,
        bundlePath: bundlePath,
        previousBundle: "",
        deadline: new Date(),
      },
      o.configFile,
    );
    writeAgentPid(o.stateRoot, startDetached(cmd.agent));
  }
  return { outcome: "rolled-back", reason };
}
