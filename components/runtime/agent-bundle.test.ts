// The AgentBundle provider's logic called directly against a real S3 server (versitygw, installed
// by `bash scripts/setup.sh versitygw`): what a node's installer will fetch, and that a bundle
// which changed after the program read it is refused.
import { createHash, verify } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChannelSpec } from "../../contract/channel/access";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import { generateSigningKeyPair, loadSigningPublicKey } from "../../contract/payload";
import { Versitygw } from "../../test/system/support/versitygw";
import {
  type AgentBundleInputs,
  type AgentBundleOutputs,
  check,
  create,
  diff,
  remove,
  update,
} from "./agent-bundle";

const gw = new Versitygw();
beforeAll(async () => {
  await gw.start();
  gw.bucket("channel");
}, 30_000);
afterAll(() => gw.cleanup());

const keys = generateSigningKeyPair();
const dir = mkdtempSync(join(tmpdir(), "berth-agent-bundle-"));
const spec = (prefix: string): ChannelSpec => ({
  kind: "s3",
  endpoint: gw.endpoint,
  bucket: "channel",
  region: "us-east-1",
  prefix,
  accessKeyId: gw.accessKey,
  secretAccessKey: gw.secretKey,
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
    endpoint: gw.endpoint,
    bucket: "channel",
    region: "us-east-1",
    prefix,
    accessKeyId: gw.accessKey,
    secretAccessKey: gw.secretKey,
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
