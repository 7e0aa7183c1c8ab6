// What a plain-HTTP session (an upload's PUT, a download's GET) says on stderr, kept for its JSON
// outcome up to a bound: a failing command cannot grow the agent's heap through it.

/** What a failing upload or download may say on stderr, at most (the rest is cut). */
export const MAX_STDERR_BYTES = 64 * 1024;

export class BoundedSink {
  private readonly parts: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly max = MAX_STDERR_BYTES) {}

  /** Keeps what fits under the bound; the rest is dropped. */
  add(chunk: Buffer | string): void {
    if (this.bytes >= this.max) return;
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const part = b.subarray(0, this.max - this.bytes);
    this.parts.push(part);
    this.bytes += part.length;
  }

  /** What was kept, as base64 (the outcome's `stderr`). */
  base64(): string {
    return Buffer.concat(this.parts).toString("base64");
  }
}
