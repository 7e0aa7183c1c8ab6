// What `berth releases` and `berth status` share: the channel they read (the local stack's folder,
// another folder, or an S3 bucket) and the node that runs an environment.
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import type { ChannelStore } from "../../contract/channel/store";
import { type Io, UsageError } from "../io";

/** The command-line options that choose the channel and the node. */
export const CHANNEL_OPTIONS = {
  channel: { type: "string" },
  region: { type: "string" },
  stack: { type: "string" },
  node: { type: "string" },
} as const;

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
