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
