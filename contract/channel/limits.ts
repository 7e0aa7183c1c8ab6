// The channel's stated bounds: what a node or the program reads from a channel that a writer
// may have filled with junk. Reaching one is an error with its reason, never a hang or an
// exhausted node.

/** The largest channel object read (releases, statuses, declarations): 8 MiB. */
export const MAX_CHANNEL_OBJECT_BYTES = 8 * 1024 * 1024;
/** The most keys one listing returns (a prefix's releases, a node's environments). */
export const MAX_LISTED_KEYS = 100_000;

export interface GetOptions {
  /** Refuse an object larger than this (default MAX_CHANNEL_OBJECT_BYTES). */
  maxBytes?: number;
}

export class ChannelObjectTooLargeError extends Error {
  constructor(
    readonly key: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(
      `channel object ${key} is ${size} bytes, above the cap of ${maxBytes} bytes: not read (an object this large is no release; a channel writer's junk?)`,
    );
    this.name = "ChannelObjectTooLargeError";
  }
}
