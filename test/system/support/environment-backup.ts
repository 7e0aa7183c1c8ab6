// An environment's backups with a real agent (AgentHarness) and versitygw: the declaration and
// secrets a program would publish, the agent's CLI with its output captured, and the environment's
// volume and containers on this machine. Shared by backup-restore, backup-database and
// x-berth-dollars.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { type EnvironmentBackup, environmentBackupSchema } from "../../../contract/backup/schema";
import { AGENT_ENVIRONMENT } from "../../../contract/node/agent-process";
import { run } from "../../../lib/process";
import { main } from "../../../node-agent/cli/main";
import type { AgentHarness } from "./agent-harness";
import { REPO_ROOT } from "./pulumi-project";
import type { Versitygw } from "./versitygw";

/** The environment's backup to `bucket` on versitygw (made here), plus `more` (schedule, retention, prefix …). */
export function environmentBackup(
  gw: Versitygw,
  bucket: string,
  more: { prefix?: string } & Record<string, unknown> = {},
): EnvironmentBackup {
  gw.bucket(bucket);
  const { prefix, ...rest } = more;
  return environmentBackupSchema.parse({
    target: { endpoint: gw.endpoint, bucket, region: "us-east-1", ...(prefix ? { prefix } : {}) },
    ...rest,
  });
}

/** The release's backup secrets: restic's password and the bucket's keys. */
export function backupSecrets(
  gw: Versitygw,
  password = `pw-${Math.random().toString(36).slice(2)}`,
): Record<string, string> {
  return {
    "backup-password": password,
    "backup-access-key-id": gw.accessKey,
    "backup-secret-access-key": gw.secretKey,
  };
}

/** `berth-agent ARGS --config <the harness's>` in this process, its output captured. */
export async function agentCli(
  h: AgentHarness,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main([...args, "--config", h.configFile], {
    out: (s) => (out += `${s}\n`),
    err: (s) => (err += `${s}\n`),
  });
  return { code, out, err };
}

/** A volume's data folder on the node. */
export const volumeFolder = (h: AgentHarness, env: string, volume = "data") =>
  join(h.volumeRoot, `berth-env-${env}`, "volumes", volume, "data");

/** The id of the environment's running container of `service`. */
export async function serviceContainer(env: string, service: string): Promise<string> {
  return (
    await run("docker", [
      "ps",
      "-q",
      "--filter",
      `label=berth.environment=${env}`,
      "--filter",
      `label=berth.service=${service}`,
    ])
  ).stdout.trim();
}

/**
 * `berth-agent restore ENV --snapshot SNAPSHOT --force` of the bundled agent in its own process,
 * killed with SIGKILL at `point` of its swap (node-agent/backup/swap.ts); `renames`: as on a node
 * without renameat2's exchange (two renames). Resolves with how it ended (SIGKILL when it was
 * killed there) and what it printed on stderr.
 */
export function restoreKilledAt(
  h: AgentHarness,
  env: string,
  snapshot: string,
  point: string,
  renames = false,
): Promise<{ end: NodeJS.Signals | number | null; err: string }> {
  const p = spawn(
    process.execPath,
    [
      join(REPO_ROOT, "dist", "berth-agent.js"),
      "restore",
      env,
      "--snapshot",
      snapshot,
      "--force",
      "--config",
      h.configFile,
    ],
    {
      env: {
        ...process.env,
        ...AGENT_ENVIRONMENT,
        BERTH_LOG_LEVEL: "warn",
        BERTH_AGENT_FAULT_KILL_AT: point,
        ...(renames ? { BERTH_AGENT_FAULT_NO_RENAME_EXCHANGE: "1" } : {}),
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  p.stderr?.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`berth-agent restore did not end within 120 s: ${err}`));
    }, 120_000);
    p.once("exit", (code, signal) => {
      clearTimeout(t);
      resolve({ end: signal ?? code, err });
    });
  });
}
