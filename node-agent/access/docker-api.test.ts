import { describe, expect, it } from "vitest";
import { demux } from "./docker-api";

const frame = (stream: number, text: string) => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

describe("demux", () => {
  it("splits an exec's multiplexed stream into stdout and stderr, in order", () => {
    const data = Buffer.concat([frame(1, "1000\n"), frame(2, "warn\n"), frame(1, "1000\n")]);
    expect(demux(data)).toEqual({ stdout: "1000\n1000\n", stderr: "warn\n" });
  });

  it("drops a cut-off last header", () => {
    expect(demux(Buffer.concat([frame(1, "a"), Buffer.from([1, 0, 0])]))).toEqual({
      stdout: "a",
      stderr: "",
    });
  });
});
