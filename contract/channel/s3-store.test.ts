import { describe, expect, it } from "vitest";
import { normalizePrefix, S3ChannelStore } from "./s3-store";

describe("S3ChannelStore (no server)", () => {
  it("normalizes the prefix", () => {
    expect(normalizePrefix(undefined)).toBe("");
    expect(normalizePrefix("")).toBe("");
    expect(normalizePrefix("/berth/prod/")).toBe("berth/prod/");
    expect(() => normalizePrefix("a/../b")).toThrow(/invalid channel prefix/);
  });

  it("names bucket and prefix in its url and refuses keys that escape", async () => {
    const s = new S3ChannelStore({
      endpoint: "http://127.0.0.1:1",
      bucket: "b",
      prefix: "p",
      accessKeyId: "K",
      secretAccessKey: "S",
    });
    expect(s.url).toBe("s3://b/p/");
    await expect(s.put("../x", "")).rejects.toThrow(/invalid channel key/);
    await expect(s.get("nodes//x")).rejects.toThrow(/invalid channel key/);
    s.destroy();
  });
});
