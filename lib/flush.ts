// Data on disk, not only in the page cache. A restore writes a volume's worth of files; left to
// the kernel, the next container start pays for flushing all of it (Docker syncs when it mounts a
// container, ~0.5 s per GiB here). Flushing the file system while the writer still runs spreads
// that work over the restore, so the data is durable when it ends and the last flush is short.
import { run } from "./process";

/** `sync --file-system DIR`: flushes the file system that holds DIR (syncfs(2)). */
export async function flushFileSystem(dir: string): Promise<void> {
  await run("sync", ["--file-system", dir], { allowFailure: true, timeoutMs: 600_000 });
}

/**
 * Awaits `work` (which writes under `dir`) while flushing that file system every `everyMs`;
 * when `work` succeeds, flushes once more, so what it wrote is on disk when this resolves.
 */
export async function whileFlushing<T>(dir: string, work: Promise<T>, everyMs = 300): Promise<T> {
  let done = false;
  const flusher = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, everyMs));
      if (!done) await flushFileSystem(dir);
    }
  })();
  try {
    const result = await work;
    done = true;
    await flusher;
    await flushFileSystem(dir);
    return result;
  } finally {
    done = true;
  }
}
