// An environment's backups with a real agent (AgentHarness) and versitygw: the declaration and
// secrets a program would publish, the agent's CLI with its output captured, and the environment's
// volume and containers on this machine. Shared by backup-restore, backup-database and
// x-berth-dollars.
import { join } from "node:path";
import { type EnvironmentBackup, environmentBackupSchema } from "../../../contract/backup/schema";
import { run } from "../../../lib/process";
import { main } from "../../../node-agent/cli/main";
import type { AgentHarness } from "./agent-harness";
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
