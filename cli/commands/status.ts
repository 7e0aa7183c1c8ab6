// berth status ENV: what the node says about an environment (its release and its backups), read
// from the release channel, so a failed or missed backup is visible without logging in to the node.
import { readStatus } from "../../contract/channel/publish";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { humanBytes, humanDuration } from "../../lib/format";
import { parse } from "../args";
import { type Io, UsageError } from "../io";
import { formatAgentStatus, readAgentStatus } from "./agent-status";
import { CHANNEL_OPTIONS, nodeOf } from "./channel-access";
import { channelOf } from "./stack";

export const STATUS_USAGE = `usage: berth status ENV [--channel DIR | --channel s3:ENDPOINT/BUCKET[/PREFIX] --region R]
                    [--stack NAME] [--node ID] [--json]

Prints the node's status of environment ENV from the release channel: the release it runs, the
last attempt and its error, and its backups (per volume: the last backup, the last success,
missed runs, the next run; the last prune, check and restore). The channel is --channel, else the
one the stack's channelUrl output names (--stack, default: the selected Pulumi stack). Exit 1
when the last release failed or a backup is failing or missed.`;

export function formatStatus(s: EnvironmentStatus): string {
  const lines = [
    `${s.environmentId} on ${s.nodeId} (updated ${s.updatedAt}): ${s.state}, running release ${s.appliedSequence ?? "none"}${s.attemptedSequence && s.attemptedSequence !== s.appliedSequence ? `, last attempt ${s.attemptedSequence}` : ""}`,
  ];
  if (s.error) lines.push(`  error: ${s.error}`);
  for (const a of s.anomalies ?? []) lines.push(`  anomaly: ${a}`);
  const b = s.backup;
  if (!b) {
    lines.push("  backups: none declared");
    return lines.join("\n");
  }
  lines.push(`  backups: ${b.state} (${b.repository})`);
  for (const v of b.volumes) {
    const last = v.last
      ? v.last.ok
        ? `ok at ${v.last.at}, snapshot ${v.last.snapshotId}, ${humanBytes(v.last.bytesAdded ?? 0)} added in ${humanDuration(v.last.durationMs)}`
        : `FAILED at ${v.last.at}: ${v.last.error}`
      : "never ran";
    lines.push(`    ${v.volume}: ${last}`);
    if (v.last?.warning) lines.push(`      warning: ${v.last.warning}`);
    if (v.last && !v.last.ok && v.lastSuccess)
      lines.push(`      last success: ${v.lastSuccess.at} (${v.lastSuccess.snapshotId})`);
    if (v.missed > 0) lines.push(`      MISSED: ${v.missed} scheduled run(s) since the last success`);
    if (v.lastMissed) lines.push(`      runs last found missed at ${v.lastMissed.at}: ${v.lastMissed.count}`);
    if (v.nextAt) lines.push(`      next: ${v.nextAt}`);
  }
  for (const [what, r] of [
    ["prune", b.prune],
    ["check", b.check],
  ] as const) {
    if (r) lines.push(`    ${what}: ${r.ok ? "ok" : `FAILED: ${r.error}`} at ${r.at}`);
  }
  if (b.restore) {
    lines.push(`    restore (${b.restore.reason}) at ${b.restore.at}:`);
    for (const v of b.restore.volumes) lines.push(`      ${v.volume}: ${v.action}: ${v.detail}`);
  }
  return lines.join("\n");
}

export async function status(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CHANNEL_OPTIONS,
      json: { type: "boolean" },
    },
    STATUS_USAGE,
  );
  if (values.help) {
    io.out(STATUS_USAGE);
    return 0;
  }
  const env = positionals[0];
  if (!env) throw new UsageError(`no environment given\n${STATUS_USAGE}`);
  const channel = await channelOf(values, io);
  const node = await nodeOf(channel, env, values.node as string | undefined);
  const s = await readStatus(channel, node, env);
  if (!s) {
    io.out(`${env} on ${node}: the node has not reported yet`);
    return 1;
  }
  io.out(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
  const agent = values.json ? undefined : await readAgentStatus(channel, node);
  if (agent) io.out(formatAgentStatus(agent));
  const bad =
    s.state === "failed" ||
    s.state === "rolled-back" ||
    s.state === "rejected" ||
    (s.backup && s.backup.state !== "ok" && s.backup.state !== "pending");
  return bad ? 1 : 0;
}
