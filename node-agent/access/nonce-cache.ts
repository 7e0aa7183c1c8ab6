// The nonces of accepted access tokens, each kept until its token expired: a token is accepted
// once. Bounded (a full cache refuses new sessions rather than forgetting a live nonce) and kept
// on disk, so an agent restart does not reopen a token's window.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-write";

export const DEFAULT_NONCE_CAPACITY = 10_000;

export type NonceResult = "fresh" | "replayed" | "full";

export class NonceCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly o: { file?: string; capacity?: number } = {}) {
    if (o.file && existsSync(o.file)) {
      try {
        const saved = JSON.parse(readFileSync(o.file, "utf8")) as Record<string, number>;
        for (const [n, until] of Object.entries(saved))
          if (typeof until === "number") this.entries.set(n, until);
      } catch {
        // A torn file cannot happen (atomic writes); anything else unreadable starts empty.
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records `nonce` as used until `until` (ms) unless it is already; expired entries go first. */
  use(nonce: string, until: number, now: number): NonceResult {
    this.prune(now);
    if (this.entries.has(nonce)) return "replayed";
    if (this.entries.size >= (this.o.capacity ?? DEFAULT_NONCE_CAPACITY)) return "full";
    this.entries.set(nonce, until);
    this.save();
    return "fresh";
  }

  private prune(now: number): void {
    for (const [n, until] of this.entries) if (until < now) this.entries.delete(n);
  }

  private save(): void {
    if (!this.o.file) return;
    mkdirSync(dirname(this.o.file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.o.file, JSON.stringify(Object.fromEntries(this.entries)), 0o600);
  }
}
