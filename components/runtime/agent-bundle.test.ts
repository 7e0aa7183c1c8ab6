// The AgentBundle provider's logic called directly against a real S3 server (versitygw, installed
// by `bash scripts/setup.sh versitygw`): what a node's installer will fetch, and that a bundle
// which changed after the program read it is refused.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, verify } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import { generateSigningKeyPair, loadSigningPublicKey } from "../../contract/payload";
import { run } from "../../lib/process";
import {
  type AgentBundleInputs,
  type AgentBundleOutputs,
  check,
  create,
  diff,
  remove,
  update,
} from "./agent-bundle";
import type { ChannelSpec } from "./channel";

const ACCESS = "berthtestkey";
const SECRET = "berthtestsecret0123456789";
let gw: ChildProcess | undefined;
let endpoint = "";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

beforeAll(async () => {
  if ((await run("sh", ["-c", "command -v versitygw"], { allowFailure: true })).exitCode !== 0)
    throw new Error(
      "versitygw is not on PATH: run `bash scripts/setup.sh versitygw` and use scripts/with-env.sh",
    );
  const dir = mkdtempSync(join(tmpdir(), "berth-versitygw-"));
  mkdirSync(join(dir, "data"));
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  let log = "";
  gw = spawn("versitygw", ["--port", `127.0.0.1:${port}`, "posix", join(dir, "data")], {
    env: { ...process.env, ROOT_ACCESS_KEY: ACCESS, ROOT_SECRET_KEY: SECRET },
    stdio: ["ignore", "pipe", "pipe"],
  });
  gw.stdout?.on("data", (d) => (log += String(d)));
  gw.stderr?.on("data", (d) => (log += String(d)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(endpoint);
      break;
    } catch {
      if (Date.now() > deadline || gw.exitCode !== null) throw new Error(`versitygw did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const c = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS, secretAccessKey: SECRET },
  });
  await c.send(new CreateBucketCommand({ Bucket: "channel" }));
  c.destroy();
}, 30_000);

afterAll(() => {
  gw?.kill("SIGTERM");
});

const keys = generateSigningKeyPair();
const dir = mkdtempSync(join(tmpdir(), "berth-agent-bundle-"));
const spec = (prefix: string): ChannelSpec => ({
  kind: "s3",
  endpoint,
  bucket: "channel",
  region: "us-east-1",
  prefix,
  accessKeyId: ACCESS,
  secretAccessKey: SECRET,
});
function bundle(text: string, name = "berth-agent.js"): { bundlePath: string; bundleSha256: string } {
  const bundlePath = join(dir, name);
  writeFileSync(bundlePath, text);
  return { bundlePath, bundleSha256: createHash("sha256").update(text).digest("hex") };
}
const inputs = (o: Partial<AgentBundleInputs> & Pick<AgentBundleInputs, "bundlePath" | "bundleSha256">) =>
  ({
    berthKind: "agent-bundle",
    berthProviderVersion: "1",
    channel: spec("prod"),
    key: "agent/berth-agent.js",
    signingKey: keys.privateKey,
    ...o,
  }) as AgentBundleInputs;
const store = (prefix: string) =>
  new S3ChannelStore({
    endpoint,
    bucket: "channel",
    region: "us-east-1",
    prefix,
    accessKeyId: ACCESS,
    secretAccessKey: SECRET,
  });

describe("AgentBundle provider (versitygw)", () => {
  it("check names bad keys, hashes and signing keys", async () => {
    const b = bundle("x");
    expect((await check({}, inputs(b))).failures).toEqual([]);
    const r = await check(
      {},
      inputs({ ...b, key: "/agent//x", bundleSha256: "nope", signingKey: "not a key" }),
    );
    expect(r.failures?.map((f) => f.property)).toEqual(["key", "bundleSha256", "signingKey"]);
  });

  it("create puts the bundle and a signature the trusted key verifies, under the channel's prefix", async () => {
    const text = 'console.log("agent v1");\n';
    const r = await create(inputs(bundle(text)));
    expect(r.id).toBe("s3://channel/agent/berth-agent.js");
    const ch = store("prod");
    const got = await ch.get("agent/berth-agent.js");
    const sig = await ch.get("agent/berth-agent.js.sig");
    expect(got).toBe(text);
    expect(
      verify(
        null,
        Buffer.from(got ?? ""),
        loadSigningPublicKey(keys.publicKey),
        Buffer.from(sig?.trim() ?? "", "base64url"),
      ),
    ).toBe(true);
    expect(r.outs).toMatchObject({
      signatureKey: "agent/berth-agent.js.sig",
      signedBy: keys.publicKey,
      bytes: text.length,
    });
    ch.destroy();
  });

  it("diff: a new bundle, signer or place is a change; the same inputs are not", async () => {
    const b1 = bundle("v1\n");
    const outs = (await create(inputs(b1))).outs as AgentBundleOutputs;
    expect((await diff("id", outs, inputs(b1))).changes).toBe(false);
    expect((await diff("id", outs, inputs(bundle("v2\n", "b2.js")))).changes).toBe(true);
    expect(
      (await diff("id", outs, inputs({ ...b1, signingKey: generateSigningKeyPair().privateKey }))).changes,
    ).toBe(true);
    expect((await diff("id", outs, inputs({ ...b1, channel: spec("staging") }))).changes).toBe(true);
  });

  it("update moves the objects when the prefix changes; delete removes them", async () => {
    const b = bundle("moving\n", "m.js");
    const old = (await create(inputs({ ...b, channel: spec("a") }))).outs as AgentBundleOutputs;
    const moved = (await update("id", old, inputs({ ...b, channel: spec("b") }))).outs as AgentBundleOutputs;
    const a = store("a");
    const bb = store("b");
    expect(await a.list("agent/")).toEqual([]);
    expect(await bb.list("agent/")).toEqual(["agent/berth-agent.js", "agent/berth-agent.js.sig"]);
    await remove("id", moved);
    expect(await bb.list("agent/")).toEqual([]);
    a.destroy();
    bb.destroy();
  });

  it("refuses a bundle that changed since the program read it", async () => {
    const b = bundle("one\n", "c.js");
    writeFileSync(b.bundlePath, "two\n");
    await expect(create(inputs(b))).rejects.toThrow(
      /changed since the program read it.*run `pulumi up` again/,
    );
  });
});
