import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import { type Io, nodeIo } from "../io";
import { channelFromUrl, channelOf } from "./stack";

const io = (env: Record<string, string> = {}): Io => ({ ...nodeIo(), env });

describe("channelFromUrl: the addresses --channel and the stack's channelUrl output take", () => {
  it("opens a local stack's file:// output and a plain folder", () => {
    const a = channelFromUrl("file:///tmp/x/channel", undefined, io());
    expect(a).toBeInstanceOf(FolderChannelStore);
    expect(a.url).toBe("file:///tmp/x/channel");
    expect(channelFromUrl(".berth-local/local/channel", undefined, io()).url).toBe(
      "file://.berth-local/local/channel",
    );
  });

  it("opens a cloud stack's s3: output with the keys of the environment", () => {
    const keys = { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret" };
    const s = channelFromUrl("s3:https://s3.fr-par.scw.cloud/acme-channel/prod", "fr-par", io(keys));
    expect(s).toBeInstanceOf(S3ChannelStore);
    expect(s.url).toBe("s3://acme-channel/prod/");
    expect(channelFromUrl("s3:https://x.r2.cloudflarestorage.com/bk1", undefined, io(keys)).url).toBe(
      "s3://bk1/",
    );
  });

  it("says what is missing or malformed", () => {
    expect(() => channelFromUrl("s3:https://e/bucket", undefined, io())).toThrow(
      /needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
    expect(() => channelFromUrl("s3:bucket-only", undefined, io())).toThrow(
      /s3:https:\/\/ENDPOINT\/BUCKET\[\/PREFIX\]/,
    );
  });

  it("prefers --channel to anything the stack says", async () => {
    const s = await channelOf({ channel: "/tmp/given", stack: "never-read" }, io());
    expect(s.url).toBe("file:///tmp/given");
  });
});
