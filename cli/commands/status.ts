// berth status ENV: what the node says about an environment (its release, its heartbeat and its
// backups), read from the release channel, so a failed or missed backup or a node gone silent is
// visible without logging in to the node. The status's signature is checked against the node's
// status key as the program pinned it (status-key.ts: --status-key, else the stack's state), and
// only without a stack against the one the node published in its identity.json.
import { channelKeys } from "../../contract/channel/layout";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { silentAfterSeconds } from "../../contract/channel/status-heartbeat";
import { unverifiedStatus } from "../../contract/channel/status-signature";
import { humanBytes, humanDuration } from "../../lib/format";
import { parse } from "../args";
import { type Io, UsageError } from "../io";
import { formatAgentStatus, readAgentStatus } from "./agent-status";
import { CHANNEL_OPTIONS, nodeOf } from "./channel-access";
import { channelOf } from "./stack";
import { checkStatusSignature, type StatusKey, statusKeyOf } from "./status-key";

export const STATUS_USAGE = `usage: berth status ENV [--channel DIR | --channel s3:ENDPOINT/BUCKET[/PREFIX] --region R]
                    [--stack NAME] [--node ID] [--status-key=KEY] [--json]

Prints the node's status of environment ENV from the release channel: whether its signature
verifies against the node's status key as the stack's state pins it (--status-key=KEY gives it,
written with = because a key may begin with -; with --channel and no --stack, the key the node
published is used, and said so), the release it runs, the last attempt and its error, how long
ago the node last heartbeated, and its backups (per volume: the last backup, the last success,
missed runs, the next run; the last prune, check and restore). The channel is --channel, else the
one the stack's channelUrl output names (--stack, default: the selected Pulumi stack). The
agent's own status (status/agent/state.json: version, trust, last upgrade) is checked against
the same key and shown only when it verifies. Exit 1 when either status does not verify, the node
is silent, the last release failed, or a backup is failing or missed.`;

/** What the signature check and the heartbeat say, beside the status itself. */
export interface StatusFacts {
  /** "verified with <key id> (<whose>)", or why not. */
  signature: { ok: boolean; detail: string };
  /** Seconds since the last heartbeat, when the status has one. */
  silentSeconds?: number;
  silent?: boolean;
}

export function statusFacts(
  s: EnvironmentStatus,
  signature: StatusFacts["signature"],
  now: Date,
): StatusFacts {
  if (!s.heartbeat) return { signature };
  const silentSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(s.heartbeat.at)) / 1000));
  return {
    signature,
    silentSeconds,
    silent: silentSeconds > silentAfterSeconds(s.heartbeat.intervalSeconds),
  };
}

export function formatStatus(s: EnvironmentStatus, facts?: StatusFacts): string {
  const lines = [
    `${s.environmentId} on ${s.nodeId} (updated ${s.updatedAt}): ${s.state}, running release ${s.appliedSequence ?? "none"}${s.attemptedSequence && s.attemptedSequence !== s.appliedSequence ? `, last attempt ${s.attemptedSequence}` : ""}`,
  ];
  if (facts)
    lines.push(
      facts.signature.ok
        ? `  signature: ${facts.signature.detail}`
        : `  signature: NOT VERIFIED: ${facts.signature.detail}`,
    );
  if (s.heartbeat) {
    const ago = facts?.silentSeconds !== undefined ? ` (${facts.silentSeconds} s ago)` : "";
    lines.push(
      facts?.silent
        ? `  node: SILENT for ${facts.silentSeconds} s: last heartbeat ${s.heartbeat.at}, expected every ${s.heartbeat.intervalSeconds} s (agent ${s.heartbeat.agentVersion})`
        : `  node: last heartbeat ${s.heartbeat.at}${ago}, every ${s.heartbeat.intervalSeconds} s (agent ${s.heartbeat.agentVersion})`,
    );
  }
  if (s.error) lines.push(`  error: ${s.error}`);
  if (s.waiting) lines.push(`  waiting: ${s.waiting}`);
  // Per service what the node saw: on a swarm, replicas running and where, and why not all.
  for (const v of s.services)
    lines.push(`  service ${v.name}: ${v.state}${v.health ? ` (${v.health})` : ""}`);
  for (const a of s.anomalies ?? []) lines.push(`  anomaly: ${a}`);
  const b = s.backup;
  if (!b) {
    lines.push("  backups: none declared");
    return lines.join("\n");
  }
  lines.push(...backupLines(b, "backups"));
  return lines.join("\n");
}

/**
 * A node of a group that holds volumes of the environment (its own signed status): its backups,
 * each volume with the node.
 */
export function formatHeldBackup(s: EnvironmentStatus, facts?: StatusFacts): string {
  const lines: string[] = [];
  if (!s.backup) return "";
  const silent = facts?.silent ? `, SILENT for ${facts.silentSeconds} s` : "";
  const signature = facts
    ? facts.signature.ok
      ? ""
      : `, signature NOT VERIFIED: ${facts.signature.detail}`
    : "";
  lines.push(
    ...backupLines(
      s.backup,
      `backups on ${s.nodeId} (holds ${s.backup.volumes.map((v) => v.volume).join(", ")}; release ${s.appliedSequence ?? "?"}${silent}${signature})`,
    ),
  );
  return lines.join("\n");
}

function backupLines(b: NonNullable<EnvironmentStatus["backup"]>, title: string): string[] {
  const lines: string[] = [];
  lines.push(`  ${title}: ${b.state} (${b.repository})`);
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
  return lines;
}

/**
 * The other nodes' statuses of the environment that carry backups: on a node group, each volume's
 * holder runs its backups and reports them in its own signed status (docs/swarm.md).
 */
async function heldBackups(
  channel: Awaited<ReturnType<typeof channelOf>>,
  env: string,
  leader: string,
  values: Record<string, unknown>,
): Promise<{ status: EnvironmentStatus; facts: StatusFacts }[]> {
  const out: { status: EnvironmentStatus; facts: StatusFacts }[] = [];
  // The other members of the leader's node groups (a membership read only to find them: each
  // holder's status is believed only when it verifies against that holder's own key).
  const members = new Set<string>();
  for (const k of await channel.list("swarm/")) {
    if (!/^swarm\/[^/]+\/membership\.json$/.test(k)) continue;
    try {
      const m = (
        JSON.parse((await channel.get(k)) ?? "{}") as { membership?: { members?: { nodeId?: unknown }[] } }
      ).membership;
      const ids = (m?.members ?? []).map((x) => x.nodeId).filter((x): x is string => typeof x === "string");
      if (ids.includes(leader)) for (const id of ids) if (id !== leader) members.add(id);
    } catch {
      // Not a membership: no members from it.
    }
  }
  const nodes = [...members].sort();
  for (const node of nodes) {
    const text = await channel.get(channelKeys.status(node, env));
    const s = text === undefined ? undefined : unverifiedStatus(text);
    if (!text || !s?.backup) continue;
    // --status-key is the leader's: a holder's own key comes from the stack, else its identity.
    const { "status-key": _given, ...rest } = values;
    const key = await statusKeyOf(rest, channel, node).catch(
      (e: Error): StatusKey => ({ whose: `no status key of ${node}: ${e.message}` }),
    );
    const signature = checkStatusSignature(text, node, env, key);
    out.push({ status: s, facts: statusFacts(s, signature, new Date()) });
  }
  return out;
}

export async function status(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CHANNEL_OPTIONS,
      "status-key": { type: "string" },
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
  const text = await channel.get(channelKeys.status(node, env));
  const s = text === undefined ? undefined : unverifiedStatus(text);
  if (!text || !s) {
    io.out(
      `${env} on ${node}: ${text ? "the status in the channel cannot be read" : "the node has not reported yet"}`,
    );
    return 1;
  }
  const key = await statusKeyOf(values, channel, node);
  const signature = checkStatusSignature(text, node, env, key);
  const facts = statusFacts(s, signature, new Date());
  // The agent's own status, believed only when it verifies against the same key.
  const agent = await readAgentStatus(channel, node, key);
  const holders = await heldBackups(channel, env, node, values);
  if (values.json)
    io.out(
      JSON.stringify(
        {
          ...s,
          verified: facts,
          ...(agent ? { agent } : {}),
          ...(holders.length > 0
            ? {
                holders: holders.map((h) => ({
                  nodeId: h.status.nodeId,
                  backup: h.status.backup,
                  verified: h.facts,
                })),
              }
            : {}),
        },
        null,
        2,
      ),
    );
  else {
    io.out(formatStatus(s, facts));
    for (const h of holders) io.out(formatHeldBackup(h.status, h.facts));
    if (agent) io.out(formatAgentStatus(agent));
  }
  const bad =
    !facts.signature.ok ||
    agent?.ok === false ||
    facts.silent === true ||
    s.state === "failed" ||
    s.state === "rolled-back" ||
    s.state === "rejected" ||
    (s.backup && s.backup.state !== "ok" && s.backup.state !== "pending") ||
    holders.some(
      (h) =>
        !h.facts.signature.ok ||
        h.facts.silent === true ||
        (h.status.backup && h.status.backup.state !== "ok" && h.status.backup.state !== "pending"),
    );
  return bad ? 1 : 0;
}
