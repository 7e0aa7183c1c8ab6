// berth releases ENV: the release history of an environment, read from the release channel
// (sequence, time, images by digest, what the node says, who signed it).
import { channelKeys } from "../../contract/channel/layout";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { unverifiedStatus } from "../../contract/channel/status-signature";
import { releaseEnvelopeSchema, verifyRelease } from "../../contract/payload";
import { formatHistory, type HistoryEntry, imagesOf, releaseStatus } from "../../contract/release/history";
import { parse } from "../args";
import { type Io, UsageError } from "../io";
import { CHANNEL_OPTIONS, nodeOf } from "./channel-access";
import { channelOf } from "./stack";
import { checkStatusSignature, statusKeyOf } from "./status-key";

export const RELEASES_USAGE = `usage: berth releases ENV [--channel DIR | --channel s3:ENDPOINT/BUCKET[/PREFIX] --region R]
                      [--stack NAME] [--node ID] [--trusted-key FILE ...] [--status-key=KEY] [--json]

Lists the releases of environment ENV in the release channel, newest first: sequence, when it
was signed, its status on the node (running, applied, failed, rolled-back, rejected, superseded),
the key that signed it and the images it runs, pinned by digest. The channel is --channel, else
the one the stack's channelUrl output names (--stack, default: the selected Pulumi stack); an S3
channel reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. With --trusted-key, signatures are
checked and a release that fails the check says so. The node's statuses count only when their
signature verifies against its status key as the stack's state pins it (as berth status checks
it); otherwise every release shows "unverified" and the reason is printed. Exit 1 then.`;

export async function releases(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CHANNEL_OPTIONS,
      "trusted-key": { type: "string", multiple: true },
      "status-key": { type: "string" },
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
  // The node's word on each release, only when its status verifies.
  const statusText = await channel.get(channelKeys.status(node, env));
  let signature: { ok: boolean; detail: string } | undefined;
  let status: EnvironmentStatus | undefined;
  if (statusText !== undefined) {
    signature = checkStatusSignature(statusText, node, env, await statusKeyOf(values, channel, node));
    if (signature.ok) status = unverifiedStatus(statusText);
  }
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
    const st = signature && !signature.ok ? { status: "unverified" } : releaseStatus(seq, status);
    entries.push({
      sequence: seq,
      issuedAt: p.issuedAt,
      images: imagesOf(p.compose.text),
      status: error ? "bad signature" : st.status,
      publisher: parsed.data.keyId,
      ...(error || st.error ? { error: error ?? st.error } : {}),
    });
  }
  if (values.json) io.out(JSON.stringify(entries, null, 2));
  else {
    io.out(formatHistory(env, node, entries));
    if (signature)
      io.out(
        signature.ok
          ? `node status: ${signature.detail}`
          : `node status: NOT VERIFIED, not shown: ${signature.detail}`,
      );
  }
  return signature && !signature.ok ? 1 : 0;
}
