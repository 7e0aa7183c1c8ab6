// Data on disk, not only in the page cache. Docker flushes the whole file system of its data root
// when it sets a container up (an overlay unmount syncs it), so the first container start after a
// writer that left a GB of dirty pages pays for writing them (~0.5 s per GiB on a fast disk, more
// on a slow one). Two ways to settle that before the start, each measured where it is used:
// - whileFlushing: flush every 300 ms while the writer runs. For `docker pull` this spreads the
//   writes out: on fresh engines a 466 MB image pulled in 15.7–17.2 s that way against 18.5–22.2 s
//   plain, and the first container start after it took 0.27–0.35 s against 0.94–0.98 s.
// - flushedAfter: one flush when the writer is done. For `restic restore`, which never syncs,
//   flushing meanwhile only competed with it (restore 4.7–5.5 s with a flush every 300 ms, 3.9–4.4
//   s restore-then-flush, 4.1–4.3 s restore alone, 1 GiB of mixed files). Gentler ways to write
//   back during the restore lost too (2026-12-07, 1 GiB, rounds interleaved, load 5–8): starting
//   each file's writeback as it grew (sync_file_range WRITE from a helper every 250 ms) 5.87,
//   11.70, 12.55 s to the data on disk, and the kernel's own background writeback from 64 MiB
//   (vm.dirty_background_bytes) 8.75, 7.85, 8.99 s, against 5.45, 10.27, 10.57 s restore-then-flush:
//   on 2 busy cores the writeback's CPU slows restic by more than the final flush costs.
// A container's creation syncs the file system of Docker's data root (its rootfs is mounted and
// unmounted there); starting a created container does not (measured: `docker create` 0.36 s with
// ~0.5 GiB dirty against 0.05–0.08 s clean, `docker start` the same either way, the dirty pages
// left alone).
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

/** Awaits `work` (which writes under `dir`), then flushes that file system once. */
export async function flushedAfter<T>(dir: string, work: Promise<T>): Promise<T> {
  const result = await work;
  await flushFileSystem(dir);
  return result;
}
