// The StargzTools provider's logic called directly against a real S3 server (versitygw): a build's
// files go up byte for byte (read back with curl and SigV4, as a node's installer reads them), the
// signed manifest last; a new build keeps the previous one's files and drops the one before; a
// file that changed since the program read it, or that is built for another CPU, is refused.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChannelSpec } from "../../contract/channel/access";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import { generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import {
  ELF_MACHINE,
  NODE_TOOLS,
  NODE_TOOLS_MANIFEST_KEY,
  type NodeArch,
  verifyNodeTools,
} from "../../contract/trust/node-tools";
import { run } from "../../lib/process";
import { Versitygw } from "../../test/system/support/versitygw";
import {
  check,
  create,
  diff,
  remove,
  type StargzToolsInputs,
  type StargzToolsOutputs,
  update,
} from "./stargz-tools";

const gw = new Versitygw();
beforeAll(async () => {
  await gw.start();
  gw.bucket("channel");
}, 30_000);
afterAll(() => gw.cleanup());

const keys = generateSigningKeyPair();
const spec = (): ChannelSpec => ({
  kind: "s3",
  endpoint: gw.endpoint,
  bucket: "channel",
  region: "us-east-1",
  prefix: "prod",
  accessKeyId: gw.accessKey,
  secretAccessKey: gw.secretKey,
});
const store = () =>
  new S3ChannelStore({
    endpoint: gw.endpoint,
    bucket: "channel",
    region: "us-east-1",
    prefix: "prod",
    accessKeyId: gw.accessKey,
    secretAccessKey: gw.secretKey,
  });
/** What a node's installer does: curl with SigV4. */
const fetched = mkdtempSync(join(tmpdir(), "berth-stargz-fetched-"));
async function fetch(key: string): Promise<Buffer> {
  const out = join(fetched, "file");
  const r = await run(
    "curl",
    [
      "-fsS",
      // S3 refuses SigV4 without it; curl before 8 does not add it.
      "-H",
      "x-amz-content-sha256: UNSIGNED-PAYLOAD",
      "--aws-sigv4",
      "aws:amz:us-east-1:s3",
      "-u",
      `${gw.accessKey}:${gw.secretKey}`,
      "-o",
      out,
      `${gw.endpoint}/channel/prod/${key}`,
    ],
    { allowFailure: true },
  );
  if (r.exitCode !== 0) throw new Error(`curl ${key}: ${r.stderr}`);
  return readFileSync(out);
}
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A build folder with an ELF header per file (`machine` overrides one file's CPU), every byte value in it. */
function build(id: string, arches: NodeArch[], machine?: { arch: NodeArch; value: number }) {
  const dir = mkdtempSync(join(tmpdir(), "berth-stargz-tools-"));
  const files = arches.flatMap((arch) =>
    NODE_TOOLS.map((name) => {
      const h = Buffer.alloc(64);
      Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(h);
      h.writeUInt16LE(machine?.arch === arch ? machine.value : ELF_MACHINE[arch], 18);
      const body = Buffer.concat([
        h,
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        Buffer.from(id + name),
      ]);
      mkdirSync(join(dir, `linux-${arch}`), { recursive: true });
      writeFileSync(join(dir, `linux-${arch}`, name), body);
      return { name, arch, sha256: sha(body), body };
    }),
  );
  const inputs: StargzToolsInputs = {
    berthKind: "stargz-tools",
    berthProviderVersion: "1",
    channel: spec(),
    dir,
    build: id,
    files: files.map(({ body: _b, ...f }) => f),
    signingKey: keys.privateKey,
  };
  return { inputs, files };
}

describe("the StargzTools provider against a real S3 server", () => {
  let outs: StargzToolsOutputs;

  it("publishes each file byte for byte and a manifest the release key verifies", async () => {
    const b = build("00000000000000a1", ["amd64", "arm64"]);
    expect((await check({}, b.inputs)).failures).toEqual([]);
    outs = (await create(b.inputs)).outs as StargzToolsOutputs;
    const manifest = verifyNodeTools(
      (await store().get(NODE_TOOLS_MANIFEST_KEY)) ?? "",
      new TrustedKeys([keys.publicKey]),
    );
    expect(manifest.build).toBe("00000000000000a1");
    expect(manifest.files).toHaveLength(4);
    for (const f of b.files) {
      const entry = manifest.files.find((e) => e.name === f.name && e.arch === f.arch);
      expect(entry?.key).toBe(`agent/stargz/00000000000000a1/linux-${f.arch}/${f.name}`);
      expect(entry?.sha256).toBe(f.sha256);
      expect(sha(await fetch(entry?.key ?? ""))).toBe(f.sha256);
    }
  });

  it("a new build: published beside the previous one, whose files stay; the one before goes", async () => {
    const b2 = build("00000000000000a2", ["amd64"]);
    expect((await diff("id", outs, b2.inputs)).changes).toBe(true);
    const outs2 = (await update("id", outs, b2.inputs)).outs as StargzToolsOutputs;
    expect(outs2.previousKeys).toEqual(outs.keys);
    const listed = await store().list("agent/stargz/");
    expect(listed.filter((k) => k.includes("/00000000000000a1/"))).toHaveLength(4);
    const b3 = build("00000000000000a3", ["amd64"]);
    const outs3 = (await update("id", outs2, b3.inputs)).outs as StargzToolsOutputs;
    const after = await store().list("agent/stargz/");
    expect(after.filter((k) => k.includes("/00000000000000a1/"))).toEqual([]);
    expect(after.filter((k) => k.includes("/00000000000000a2/"))).toHaveLength(2);
    expect(after.filter((k) => k.includes("/00000000000000a3/"))).toHaveLength(2);
    // The same build again changes nothing.
    expect((await diff("id", outs3, b3.inputs)).changes).toBe(false);
    await remove("id", outs3);
    expect(await store().list("agent/stargz/")).toEqual([]);
  });

  it("refuses a file that changed since the program read it, and one built for another CPU", async () => {
    const b = build("00000000000000b1", ["amd64"]);
    writeFileSync(join(b.inputs.dir, "linux-amd64", "berth-estargz"), "changed");
    await expect(create(b.inputs)).rejects.toThrow(/berth-estargz changed since the program read it/);
    const wrong = build("00000000000000b2", ["arm64"], { arch: "arm64", value: ELF_MACHINE.amd64 });
    await expect(create(wrong.inputs)).rejects.toThrow(/for arm64 is built for amd64/);
    expect(await store().get(NODE_TOOLS_MANIFEST_KEY)).toBeUndefined();
  });

  it("check names a bad input", async () => {
    const b = build("00000000000000c1", ["amd64"]);
    const r = await check({}, { ...b.inputs, build: "x", dir: "rel", signingKey: "nope" });
    expect((r.failures ?? []).map((f) => f.property).sort()).toEqual(["build", "dir", "signingKey"]);
  });
});
