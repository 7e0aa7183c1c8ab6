import { describe, expect, it } from "vitest";
import { BoundedSink, MAX_STDERR_BYTES } from "./bounded-sink";

const decoded = (s: BoundedSink) => Buffer.from(s.base64(), "base64").toString("latin1");

describe("BoundedSink", () => {
  it("keeps strings and buffers in order", () => {
    const s = new BoundedSink();
    s.add("no folder /x\n");
    s.add(Buffer.from("exit 1\n"));
    expect(decoded(s)).toBe("no folder /x\nexit 1\n");
  });

  it("cuts at the bound, inside a chunk, and keeps nothing after it", () => {
    const s = new BoundedSink(10);
    s.add("12345678");
    s.add("abcdef");
    s.add("more");
    expect(decoded(s)).toBe("12345678ab");
    const d = new BoundedSink();
    d.add(Buffer.alloc(MAX_STDERR_BYTES + 5, 0x61));
    d.add("x");
    expect(decoded(d)).toHaveLength(64 * 1024);
  });

  it("is empty until something is added", () => {
    expect(new BoundedSink().base64()).toBe("");
  });
});
