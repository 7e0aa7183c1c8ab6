// Which channel store a provider talks to, from a plain description (a provider input).
import type { ChannelSpec } from "../../contract/channel/access";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import type { ChannelStore } from "../../contract/channel/store";

export function openChannel(spec: ChannelSpec): ChannelStore {
  if (spec.kind === "folder") return new FolderChannelStore(spec.path);
  const { kind: _kind, ...options } = spec;
  return new S3ChannelStore(options);
}

/** Where a channel's objects are: what its nodes read. Its credentials are not part of it. */
export function channelLocation(c: ChannelSpec): string[] {
  return c.kind === "folder" ? [c.path] : [c.endpoint, c.bucket, c.region, c.prefix];
}

/** True when the program's write credentials for the channel changed (an update, nothing nodes see). */
export function channelCredentialsChanged(olds: ChannelSpec, news: ChannelSpec): boolean {
  const credentials = (c: ChannelSpec) => (c.kind === "s3" ? [c.accessKeyId, c.secretAccessKey] : []);
  return JSON.stringify(credentials(olds)) !== JSON.stringify(credentials(news));
}

/** Runs `f` with the channel's store, released afterwards (an S3 store's connections). */
export async function withChannel<T>(spec: ChannelSpec, f: (s: ChannelStore) => Promise<T>): Promise<T> {
  const store = openChannel(spec);
  try {
    return await f(store);
  } finally {
    (store as { destroy?: () => void }).destroy?.();
  }
}
