// What `berth releases` and `berth status` share: the channel they read (the local stack's folder,
// another folder, or an S3 bucket) and the node that runs an environment.
import type { ChannelStore } from "../../contract/channel/store";
import { UsageError } from "../io";

/** The command-line options that choose the channel and the node. */
export const CHANNEL_OPTIONS = {
  channel: { type: "string" },
  region: { type: "string" },
  stack: { type: "string" },
  node: { type: "string" },
} as const;

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
