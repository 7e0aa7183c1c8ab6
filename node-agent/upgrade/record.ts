// The node's record of agent upgrades (`<stateRoot>/agent/upgrade.json`): the last attempt and
// its outcome, the highest version the node has run (the downgrade floor), bundles that failed
// (never tried again), and during a trial the deadline the watchdog holds the new agent to.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { writeFileAtomic } from "../../lib/atomic-write";

export const upgradeRecordSchema = z.object({
  state: z.enum(["trial", "installed", "rolled-back", "refused"]),
  version: z.string(),
  from: z.string(),
  at: z.string(),
  reason: z.string().optional(),
  /** During a trial: the new agent must report by then, or the watchdog puts the previous one back. */
  deadline: z.string().optional(),
  /** The bundle file the agent runs from (replaced in place). */
  bundlePath: z.string().optional(),
  /** During a trial: the bundle file that ran before, kept to go back to. */
  previousBundle: z.string().optional(),
  /** SHA-256 of the bundle being tried (or refused). */
  sha256: z.string().optional(),
  /** The highest version this node has run: no bundle at or below it is installed. */
  highestVersion: z.string().optional(),
  /** Bundles that failed their trial or check: not tried again. */
  failed: z.array(z.string()).default([]),
});
export type UpgradeRecord = z.infer<typeof upgradeRecordSchema>;

export const upgradeDir = (stateRoot: string) => join(stateRoot, "agent");
export const recordPath = (stateRoot: string) => join(upgradeDir(stateRoot), "upgrade.json");
/** The pid of the agent that runs now (written by whoever starts one: the node, or a handover). */
export const agentPidPath = (stateRoot: string) => join(stateRoot, "agent.pid");

export function readRecord(stateRoot: string): UpgradeRecord | undefined {
  const p = recordPath(stateRoot);
  if (!existsSync(p)) return undefined;
  try {
    return upgradeRecordSchema.parse(JSON.parse(readFileSync(p, "utf8")));
  } catch {
    return undefined; // a torn or foreign file: as if no upgrade had happened
  }
}

export function writeRecord(stateRoot: string, r: UpgradeRecord): void {
  mkdirSync(upgradeDir(stateRoot), { recursive: true, mode: 0o700 });
  writeFileAtomic(recordPath(stateRoot), `${JSON.stringify(r, null, 2)}\n`, 0o600);
}

export function writeAgentPid(stateRoot: string, pid: number): void {
  mkdirSync(stateRoot, { recursive: true, mode: 0o700 });
  writeFileAtomic(agentPidPath(stateRoot), `${pid}\n`, 0o600);
}

export function readAgentPid(stateRoot: string): number | undefined {
  try {
    const n = Number(readFileSync(agentPidPath(stateRoot), "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
