// A folder channel (the local target's) can be watched: a new desired release then reaches the
// agent at once instead of at its next poll. Polling goes on as well, so a missed file-system
// event only costs one poll interval. Only the node's own environments folder matters: the
// agent's own writes (identity, status) never wake it.
import { type FSWatcher, mkdirSync, watch } from "node:fs";
import { join } from "node:path";
import { channelKeys } from "../contract/channel/layout";
import type { Logger } from "../lib/log";

/** Subscribes to changes of the channel; returns the unsubscribe function. */
export type ChannelChanges = (onChange: () => void) => () => void;

export function watchFolderChannel(root: string, nodeId: string, log: Logger): ChannelChanges {
  const prefix = channelKeys.environmentsPrefix(nodeId);
  const dir = join(root, ...prefix.split("/").filter(Boolean));
  return (onChange) => {
    let watcher: FSWatcher | undefined;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      // Recursive watching works on Linux since Node.js 20; environments and releases are
      // written as new files (rename into place), each an event here.
      watcher = watch(dir, { recursive: true }, () => onChange());
      watcher.on("error", (e) => {
        log.warn({ err: e.message, dir }, "watching the channel folder failed; polling only");
        watcher?.close();
      });
    } catch (e) {
      log.warn({ err: (e as Error).message, dir }, "cannot watch the channel folder; polling only");
    }
    return () => watcher?.close();
  };
}
