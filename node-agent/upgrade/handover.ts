// Handing over to the agent that was just swapped in. First a watchdog is started from the
// PREVIOUS bundle (known to run): it holds the new agent to the trial's deadline and puts the old
// one back when it does not report (watchdog.ts). Then the new agent starts: under systemd the
// old one exits and its unit (Restart=always) starts the file at the same path, now the new
// bundle; elsewhere (the local node, tests) the old one starts it detached with its own output
// and exits. Detached children and HAProxy outlive the agent (the unit's KillMode=process).
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { agentRunArgs } from "../../contract/node/agent-process";
import type { AgentConfig } from "../config";
import { upgradeDir, writeAgentPid } from "./record";
import type { Staged } from "./upgrader";

export type RestartMode = "systemd" | "exec";

/** auto: systemd when systemd runs this process (it sets INVOCATION_ID for a service). */
export function restartMode(
  configured: AgentConfig["upgrade"]["restart"],
  env: NodeJS.ProcessEnv = process.env,
): RestartMode {
  if (configured !== "auto") return configured;
  return env.INVOCATION_ID ? "systemd" : "exec";
}

/** The argument lists, as data: the watchdog (old bundle) and the new agent. */
export function handoverCommands(staged: Staged, configFile: string) {
  return {
    watchdog: [staged.previousBundle, "upgrade-watch", "--config", configFile],
    agent: agentRunArgs(staged.bundlePath, configFile),
  };
}

/** Where a new agent on trial writes its errors (exec mode): the watchdog quotes them. */
export const trialLogPath = (stateRoot: string) => join(upgradeDir(stateRoot), "trial.log");

/**
 * Starts `node ARGS` detached, with this process's stdout and stderr (or `stderrFile` for its
 * errors); returns its pid.
 */
export function startDetached(args: string[], stderrFile?: string): number {
  const err = stderrFile ? openSync(stderrFile, "w", 0o600) : "inherit";
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", "inherit", err],
    env: process.env,
  });
  if (typeof err === "number") closeSync(err);
  child.unref();
  return child.pid ?? 0;
}

/**
 * Starts the watchdog and (exec mode) the new agent. The caller exits right after: under
 * systemd its exit is what starts the new agent.
 */
export function handOver(
  staged: Staged,
  o: { configFile: string; stateRoot: string; mode: RestartMode },
): { watchdogPid: number; agentPid?: number } {
  const cmd = handoverCommands(staged, o.configFile);
  const watchdogPid = startDetached(cmd.watchdog);
  if (o.mode === "systemd") return { watchdogPid };
  // The new agent's errors (the agent logs to stdout) go to a file the watchdog can quote.
  const agentPid = startDetached(cmd.agent, trialLogPath(o.stateRoot));
  writeAgentPid(o.stateRoot, agentPid);
  return { watchdogPid, agentPid };
}
