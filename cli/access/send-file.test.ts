import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { afterAll, describe, expect, it } from "vitest";
import { sendFile } from "./send-file";

const dir = mkdtempSync(join(tmpdir(), "berth-send-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A sink that completes each write a little later, so buffers are in flight at once. */
function slowSink() {
  const parts: Buffer[] = [];
  let ended = false;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      // A copy of what the sink got when the write was made: a buffer overwritten before its
      // write completed would show in the bytes collected at completion.
      const atWrite = Buffer.from(chunk);
      setTimeout(() => {
        expect(chunk.equals(atWrite)).toBe(true);
        parts.push(Buffer.from(chunk));
        cb();
      }, 1);
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  return { sink, bytes: () => Buffer.concat(parts), ended: () => ended };
}

describe("sendFile", () => {
  it("sends exactly the file through reused buffers, then ends the body", async () => {
    const data = randomBytes(100_003);
    const file = join(dir, "a.bin");
    writeFileSync(file, data);
    const s = slowSink();
    await sendFile(file, data.length, s.sink, { buffers: 3, bufferBytes: 4096 });
    await finished(s.sink); // resolves at once when it finished before this line (under load)
    expect(s.bytes().equals(data)).toBe(true);
    expect(s.ended()).toBe(true);
  });

  it("sends only the size measured when the file grew since", async () => {
    const data = randomBytes(50_000);
    const file = join(dir, "b.bin");
    writeFileSync(file, data);
    const s = slowSink();
    await sendFile(file, 30_000, s.sink, { buffers: 2, bufferBytes: 7000 });
    await finished(s.sink); // resolves at once when it finished before this line (under load)
    expect(s.bytes().equals(data.subarray(0, 30_000))).toBe(true);
  });

  it("refuses a file shorter than its size, naming it", async () => {
    const file = join(dir, "c.bin");
    writeFileSync(file, randomBytes(10_000));
    const s = slowSink();
    await expect(sendFile(file, 20_000, s.sink, { bufferBytes: 4096 })).rejects.toThrow(
      `${file} ended after 10000 bytes (it changed while being sent)`,
    );
    expect(s.ended()).toBe(false);
  });

  it("stops without ending the body when asked, and when the body is destroyed", async () => {
    const file = join(dir, "d.bin");
    writeFileSync(file, randomBytes(200_000));
    const stop = new AbortController();
    const s = slowSink();
    const sending = sendFile(file, 200_000, s.sink, { buffers: 2, bufferBytes: 1000, signal: stop.signal });
    stop.abort();
    await sending;
    expect(s.ended()).toBe(false);
    expect(s.bytes().length).toBeLessThan(200_000);

    const t = slowSink();
    const sending2 = sendFile(file, 200_000, t.sink, { buffers: 2, bufferBytes: 1000 });
    setTimeout(() => t.sink.destroy(), 5);
    await sending2;
    expect(t.ended()).toBe(false);
  });
});
