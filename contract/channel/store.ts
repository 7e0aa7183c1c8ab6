// The release channel as a key-value store. Two kinds: a folder (the local target) and an
// S3-compatible bucket (R2, Scaleway Object Storage). Keys use `/` separators.
export interface ChannelStore {
  readonly url: string;
  get(key: string): Promise<string | undefined>;
  put(key: string, body: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}
