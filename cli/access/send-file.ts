// A local file sent as a request's body through a few buffers reused for the whole file. A file
// stream (createReadStream) allocates a new buffer for every read, and a fresh 1 MiB buffer is
// fresh memory the kernel maps and zeroes page by page: for 1 GiB that was half of the CLI's CPU
// (bench:access, docs/benchmarks.md). A buffer is read into again only once its write has
// completed (its callback), so what was sent is never overwritten.
import { open } from "node:fs/promises";
import type { Writable } from "node:stream";

export interface SendFileOptions {
  /** Buffers in flight at once. */
  buffers?: number;
  /** Bytes per read. */
  bufferBytes?: number;
  /** Stops sending (an answer came before the whole file went). */
  signal?: AbortSignal;
  /** Where in the file the bytes start (a part of an upload). */
  offset?: number;
}

/**
 * Writes exactly `size` bytes of `file` (from `offset`) into `to`, then ends it. Rejects when the file holds fewer
 * bytes than `size` (it changed since it was measured) or a read fails; resolves without ending
 * `to` when it was stopped or `to` was destroyed.
 */
export async function sendFile(file: string, size: number, to: Writable, o: SendFileOptions = {}) {
  const count = o.buffers ?? 4;
  const bytes = o.bufferBytes ?? 1024 * 1024;
  const free = Array.from({ length: count }, () => Buffer.allocUnsafeSlow(bytes));
  let wake: (() => void) | undefined;
  const ready = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stopped = () => to.destroyed || (o.signal?.aborted ?? false);
  to.once("close", ready);
  o.signal?.addEventListener("abort", ready, { once: true });
  const fh = await open(file, "r");
  try {
    let sent = 0;
    while (sent < size && !stopped()) {
      const buf = free.pop();
      if (!buf) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const at = (o.offset ?? 0) + sent;
      const { bytesRead } = await fh.read(buf, 0, Math.min(bytes, size - sent), at);
      if (bytesRead === 0) throw new Error(`${file} ended after ${at} bytes (it changed while being sent)`);
      if (stopped()) break;
      sent += bytesRead;
      to.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead), (err) => {
        if (!err) free.push(buf);
        ready();
      });
    }
    if (!stopped()) to.end();
  } finally {
    to.off("close", ready);
    o.signal?.removeEventListener("abort", ready);
    await fh.close();
  }
}
