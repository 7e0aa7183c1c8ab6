// berth releases ENV: the release history of an environment, read from the release channel
// (sequence, time, images by digest, what the node says, who signed it).
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { readStatus } from "../../contract/channel/publish";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import type { ChannelStore } from "../../contract/channel/store";
import { releaseEnvelopeSchema, verifyRelease } from "../../contract/payload";
import { formatHistory, type HistoryEntry, imagesOf, releaseStatus } from "../../contract/release/history";
import { parse } from "../args";
import { type Io, UsageError } from "../io";

export const RELEASES_USAGE = `usage: berth releases ENV [--channel DIR | --channel s3:ENDPOINT/BUCKET[/PREFIX] --region R]
                      [--stack NAME] [--node ID] [--trusted-key FILE ...] [--json]

Lists the releases of environment ENV in the release channel, newest first: sequence, when it
was signed, its status on the node (running, applied, failed, rolled-back, rejected, superseded),
the key that signed it and the images it runs, pinned by digest. The channel is the local stack's
folder (.berth-local/<stack>/channel, --stack default local) unless --channel names one; an S3
channel reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. With --trusted-key, signatures are
checked and a release that fails the check says so.`;

export function openCliChannel(values: Record<string, unknown>, io: Io): ChannelStore {
  const ch = values.channel as string | undefined;
  if (!ch)
    return new FolderChannelStore(`.berth-local/${(values.stack as string | undefined) ?? "local"}/channel`);
  const m = /^s3:(https?:\/\/[^/]+)\/([a-z0-9][a-z0-9.-]+[a-z0-9])(?:\/(.*))?$/.exec(ch);
  if (!m) return new FolderChannelStore(ch);
  const accessKeyId = io.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = io.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new UsageError(
      "an S3 channel needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
    );
  return new S3ChannelStore({
    endpoint: m[1] as string,
    bucket: m[2] as string,
    prefix: m[3] ?? "",
    region: (values.region as string | undefined) ?? "auto",
    accessKeyId,
    secretAccessKey,
  });
}

/** The node that runs ENV: --node, or the one node the channel names for it. */
export async function nodeOf(channel: ChannelStore, env: string, node: string | undefined): Promise<string> {
  if (node) return node;
  const keys = await channel.list("nodes/");
  const nodes = [
    ...new Set(
      keys
        .map((k) => /^nodes\/([^/]+)\/environments\/([^/]+)\//.exec(k))
        .filter((m): m is RegExpExecArray => !!m && m[2] === env)
        .map((m) => m[1] as string),
    ),
  ].sort();
  if (nodes.length === 0) throw new UsageError(`the channel ${channel.url} has no releases of ${env}`);
  if (nodes.length > 1)
    throw new UsageError(`${env} runs on several nodes (${nodes.join(", ")}): add --node`);
  return nodes[0] as string;
}

export async function releases(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      channel: { type: "string" },
      region: { type: "string" },
      stack: { type: "string" },
      node: { type: "string" },
      "trusted-key": { type: "string", multiple: true },
      json: { type: "boolean" },
    },
    RELEASES_USAGE,
  );
  if (values.help) {
    io.out(RELEASES_USAGE);
    return 0;
  }
  const env = positionals[0];
  if (!env) throw new UsageError(`no environment given\n${RELEASES_USAGE}`);
  const channel = openCliChannel(values, io);
  const node = await nodeOf(channel, env, values.node as string | undefined);
  const trusted = ((values["trusted-key"] as string[] | undefined) ?? []).map((f) => io.readFile(f).trim());
  const status = await readStatus(channel, node, env);
  const prefix = channelKeys.release(node, env, 1).replace(/1\.json$/, "");
  const entries: HistoryEntry[] = [];
  for (const key of await channel.list(prefix)) {
    const seq = Number(key.slice(prefix.length).replace(/\.json$/, ""));
    if (!Number.isInteger(seq) || seq < 1) continue;
    const text = await channel.get(key);
    if (text === undefined) continue;
    const parsed = releaseEnvelopeSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      entries.push({ sequence: seq, issuedAt: "?", images: {}, status: "unreadable", publisher: "?" });
      continue;
    }
    const p = parsed.data.payload;
    let error: string | undefined;
    if (trusted.length > 0) {
      try {
        verifyRelease(text, {
          trustedKeys: trusted,
          environmentId: env,
          nodeId: node,
          appliedSequence: 0,
          now: new Date(Date.parse(p.issuedAt) + 1000),
        });
      } catch (e) {
        error = `signature check failed: ${(e as Error).message}`;
      }
    }
    const st = releaseStatus(seq, status);
    entries.push({
      sequence: seq,
      issuedAt: p.issuedAt,
      images: imagesOf(p.compose.text),
      status: error ? "bad signature" : st.status,
      publisher: parsed.data.keyId,
      ...(error || st.error ? { error: error ?? st.error } : {}),
    });
  }
  io.out(values.json ? JSON.stringify(entries, null, 2) : formatHistory(env, node, entries));
  return 0;
}
