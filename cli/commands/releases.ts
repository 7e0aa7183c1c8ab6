// berth releases ENV: the release history of an environment, read from the release channel
// (sequence, time, images by digest, what the node says, who signed it).
import { channelKeys } from "../../contract/channel/layout";
import { readStatus } from "../../contract/channel/publish";
import { releaseEnvelopeSchema, verifyRelease } from "../../contract/payload";
import { formatHistory, type HistoryEntry, imagesOf, releaseStatus } from "../../contract/release/history";
import { parse } from "../args";
import { type Io, UsageError } from "../io";
import { CHANNEL_OPTIONS, nodeOf } from "./channel-access";
import { channelOf } from "./stack";

export const RELEASES_USAGE = `usage: berth releases ENV [--channel DIR | --channel s3:ENDPOINT/BUCKET[/PREFIX] --region R]
                      [--stack NAME] [--node ID] [--trusted-key FILE ...] [--json]

Lists the releases of environment ENV in the release channel, newest first: sequence, when it
was signed, its status on the node (running, applied, failed, rolled-back, rejected, superseded),
the key that signed it and the images it runs, pinned by digest. The channel is --channel, else
the one the stack's channelUrl output names (--stack, default: the selected Pulumi stack); an S3
channel reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. With --trusted-key, signatures are
checked and a release that fails the check says so.`;

export async function releases(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CHANNEL_OPTIONS,
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
  const channel = await channelOf(values, io);
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
