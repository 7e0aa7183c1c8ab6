// The release channel as a key-value store. Two kinds: a folder (the local target) and an
// S3-compatible bucket (R2, Scaleway Object Storage). Keys use `/` separators. Reads are bounded
// (limits.ts): an object above its cap is an error with its reason, never read into memory.
import type { GetOptions } from "./limits";

export interface ChannelStore {
  readonly url: string;
  /** The object's text; undefined when there is none. Throws ChannelObjectTooLargeError above the cap. */
  get(key: string, o?: GetOptions): Promise<string | undefined>;
  /** Text, or bytes (the stargz tools: components/runtime/stargz-tools.ts). */
  put(key: string, body: string | Buffer): Promise<void>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * Calls `onChange` soon after the object at `key` may have changed; returns the unsubscribe
   * function. Optional: a store that cannot be watched (S3 has no change notifications) is
   * polled, and a watched one is polled too, more slowly, in case an event is missed.
   */
  watch?(key: string, onChange: () => void): () => void;
}
