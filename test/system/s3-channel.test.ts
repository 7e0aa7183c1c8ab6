// The S3 release channel against a real S3-compatible server (versitygw, installed by
// `scripts/setup.sh versitygw`): the same assertions as the folder store, plus listings that
// span pages and the agent's config → store wiring.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channelKeys, environmentsFromKeys } from "../../contract/channel/layout";
import { ChannelObjectTooLargeError, MAX_CHANNEL_OBJECT_BYTES } from "../../contract/channel/limits";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import { main } from "../../node-agent/cli/main";
import { Versitygw } from "./support/versitygw";

const gw = new Versitygw();

async function bucket(name: string): Promise<void> {
  gw.bucket(name);
}

function store(bucketName: string, extra: { prefix?: string; pageSize?: number } = {}) {
  return new S3ChannelStore({
    endpoint: gw.endpoint,
    bucket: bucketName,
    region: "us-east-1",
    accessKeyId: gw.accessKey,
    secretAccessKey: gw.secretKey,
    ...extra,
  });
}

beforeAll(() => gw.start(), 30_000);
afterAll(() => gw.cleanup());

describe("S3ChannelStore on versitygw", () => {
  it("puts, gets, lists and deletes keys", async () => {
    await bucket("channel-a");
    const ch = store("channel-a");
    await ch.put(channelKeys.release("n1", "prod", 1), "r1");
    await ch.put(channelKeys.desired("n1", "prod"), '{"sequence":1}');
    await ch.put(channelKeys.desired("n1", "staging"), '{"sequence":4}');
    await ch.put(channelKeys.desired("n2", "prod"), '{"sequence":2}');
    expect(await ch.get(channelKeys.release("n1", "prod", 1))).toBe("r1");
    expect(await ch.get("nodes/n1/identity.json")).toBeUndefined();
    const keys = await ch.list(channelKeys.environmentsPrefix("n1"));
    expect(environmentsFromKeys("n1", keys)).toEqual(["prod", "staging"]);
    await ch.delete(channelKeys.desired("n1", "staging"));
    expect(environmentsFromKeys("n1", await ch.list("nodes/n1/"))).toEqual(["prod"]);
    // Deleting a key that is not there is not an error (as in the folder store).
    await ch.delete(channelKeys.desired("n1", "staging"));
    ch.destroy();
  });

  it("refuses an object above the size cap with its reason, reading no more than the cap", async () => {
    await bucket("channel-big");
    const ch = store("channel-big");
    const key = channelKeys.release("n1", "prod", 1000);
    await ch.put(key, "x".repeat(MAX_CHANNEL_OBJECT_BYTES + 1));
    await expect(ch.get(key)).rejects.toThrow(
      `channel object ${key} is ${MAX_CHANNEL_OBJECT_BYTES + 1} bytes, above the cap of ${MAX_CHANNEL_OBJECT_BYTES} bytes`,
    );
    await expect(ch.get(key)).rejects.toBeInstanceOf(ChannelObjectTooLargeError);
    await ch.put(key, "12345");
    expect(await ch.get(key, { maxBytes: 5 })).toBe("12345");
    await expect(ch.get(key, { maxBytes: 4 })).rejects.toThrow(/is 5 bytes, above the cap of 4 bytes/);
    ch.destroy();
  });

  it("keeps to its prefix: two channels share a bucket without seeing each other", async () => {
    await bucket("channel-b");
    const a = store("channel-b", { prefix: "stacks/a" });
    const b = store("channel-b", { prefix: "stacks/b/" });
    await a.put(channelKeys.desired("n1", "prod"), '{"sequence":1}');
    await b.put(channelKeys.desired("n1", "web"), '{"sequence":7}');
    expect(environmentsFromKeys("n1", await a.list("nodes/"))).toEqual(["prod"]);
    expect(environmentsFromKeys("n1", await b.list("nodes/"))).toEqual(["web"]);
    expect(await a.get(channelKeys.desired("n1", "web"))).toBeUndefined();
    a.destroy();
    b.destroy();
  });

  it("keeps keys whose names need percent-encoding, and lists them back as they were", async () => {
    await bucket("channel-d");
    const ch = store("channel-d", { prefix: "a b" });
    const key = "nodes/n1/odd name+(1)&x=y'~*.json";
    await ch.put(key, "odd");
    expect(await ch.get(key)).toBe("odd");
    expect(await ch.list("nodes/n1/")).toEqual([key]);
    await ch.delete(key);
    expect(await ch.list("nodes/")).toEqual([]);
    ch.destroy();
  });

  it("follows listing pages (more keys than one page holds)", async () => {
    await bucket("channel-c");
    const ch = store("channel-c", { pageSize: 7 });
    const envs = Array.from({ length: 25 }, (_, i) => `env-${String(i).padStart(2, "0")}`);
    await Promise.all(envs.map((e) => ch.put(channelKeys.desired("n1", e), '{"sequence":1}')));
    await ch.put(channelKeys.release("n1", "env-00", 1), "r");
    const keys = await ch.list(channelKeys.environmentsPrefix("n1"));
    expect(keys).toHaveLength(26);
    expect(environmentsFromKeys("n1", keys)).toEqual(envs);
    ch.destroy();
  });

  it("says which bucket and key failed", async () => {
    const ch = store("no-such-bucket");
    await expect(ch.put("x.json", "{}")).rejects.toThrow(/bucket no-such-bucket: put "x.json" failed/);
    ch.destroy();
  });

  it("berth-agent reads an s3 channel from its config (secret key from a file)", async () => {
    await bucket("channel-agent");
    const dir = mkdtempSync(join(tmpdir(), "berth-agent-s3-"));
    const secretFile = join(dir, "channel-secret");
    writeFileSync(secretFile, `${gw.secretKey}\n`, { mode: 0o600 });
    const config = {
      nodeId: "n1",
      stateRoot: join(dir, "state"),
      channel: {
        kind: "s3",
        endpoint: gw.endpoint,
        bucket: "channel-agent",
        region: "us-east-1",
        prefix: "berth",
        accessKeyId: gw.accessKey,
        secretAccessKeyFile: secretFile,
      },
      trustedKeys: ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    };
    const file = join(dir, "agent.json");
    writeFileSync(file, JSON.stringify(config));
    const out: string[] = [];
    const err: string[] = [];
    // `apply` reads the desired pointer from the channel: none there yet, so it says so.
    const code = await main(["apply", "prod", "--config", file], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
    });
    expect(err.join("\n")).toMatch(/the channel names no desired release of prod for node n1/);
    expect(code).toBe(2);
    // Before that it published its identity (sealing and status keys) through the S3 channel.
    const ch = store("channel-agent", { prefix: "berth" });
    const identity = JSON.parse((await ch.get(channelKeys.identity("n1"))) ?? "{}");
    expect(identity).toMatchObject({ formatVersion: 2, nodeId: "n1" });
    expect(typeof identity.publicKey).toBe("string");
    expect(typeof identity.statusKey).toBe("string");
    ch.destroy();
    // A missing secret file is refused with the path named.
    writeFileSync(
      file,
      JSON.stringify({ ...config, channel: { ...config.channel, secretAccessKeyFile: "/nonexistent" } }),
    );
    const code2 = await main(["apply", "prod", "--config", file], { out: () => {}, err: (s) => err.push(s) });
    expect(code2).toBe(2);
    expect(err.at(-1)).toMatch(/channel\.secretAccessKeyFile: cannot read \/nonexistent/);
  });
});
