// The StargzTools dynamic provider's logic: puts one build of the lazy-pulling tools
// (berth-stargz-snapshotter, berth-estargz; per CPU architecture) and their signed manifest into a
// release channel, where a cloud workspace node's first-boot installer fetches them
// (components/deployment-node/stargz-installer.ts; the manifest: contract/trust/node-tools.ts).
// The files are read at apply time (~25 MB each: they stay out of the state); their SHA-256s, taken
// when the program ran, are the inputs a change is decided on, and create/update refuse a file that
// changed since. Each build's files have keys of their own; the manifest goes last, so a node never
// finds a manifest whose files are not there yet, and the previous build's files stay for a node
// that read the previous manifest; the one before goes.
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { loadSigningPrivateKey, publicKeyText } from "../../contract/payload";
import { sha256Hex } from "../../contract/payload/encoding";
import {
  NODE_ARCHES,
  NODE_TOOLS,
  NODE_TOOLS_MANIFEST_KEY,
  type NodeArch,
  type NodeTool,
  nodeToolBuildPath,
  nodeToolKey,
  signNodeTools,
} from "../../contract/trust/node-tools";
import { channelCredentialsChanged, channelLocation, withChannel } from "./channel";
import { isUnknown } from "./unknown";

export interface StargzToolFile {
  name: NodeTool;
  arch: NodeArch;
  /** SHA-256 (hex) when the program ran. */
  sha256: string;
}

export interface StargzToolsInputs {
  berthKind: "stargz-tools";
  berthProviderVersion: string;
  channel: ChannelSpec;
  /** The build's folder (`<dir>/linux-<arch>/<program>`; scripts/setup/stargz.sh). */
  dir: string;
  /** The build: the hash of tools/stargz's sources (the folder's name). */
  build: string;
  files: StargzToolFile[];
  /** The release-signing private key (the nodes trust its public key). */
  signingKey: string;
}

export interface StargzToolsOutputs extends StargzToolsInputs {
  manifestKey: string;
  /** The keys of this build's files. */
  keys: string[];
  /** The previous build's keys, kept for nodes that read its manifest; removed at the next build. */
  previousKeys: string[];
  signedBy: string;
}

function signerOf(signingKey: string): string {
  return publicKeyText(createPublicKey(loadSigningPrivateKey(signingKey)));
}

export async function check(
  _olds: Partial<StargzToolsInputs>,
  news: StargzToolsInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (typeof news.dir !== "string" || !isAbsolute(news.dir))
    failures.push({ property: "dir", reason: "an absolute path of the stargz tools' build" });
  if (typeof news.build !== "string" || !/^[0-9a-f]{16}$/.test(news.build))
    failures.push({ property: "build", reason: "the build's 16 hex digits (the folder's name)" });
  const files = Array.isArray(news.files) ? news.files : [];
  if (
    files.length === 0 ||
    files.some(
      (f) =>
        !NODE_TOOLS.includes(f?.name) || !NODE_ARCHES.includes(f?.arch) || !/^[0-9a-f]{64}$/.test(f?.sha256),
    )
  )
    failures.push({
      property: "files",
      reason: `each of ${NODE_TOOLS.join(", ")} for ${NODE_ARCHES.join(" or ")}, with its SHA-256`,
    });
  if (!isUnknown(news.signingKey)) {
    try {
      signerOf(news.signingKey);
    } catch {
      failures.push({
        property: "signingKey",
        reason: "not an Ed25519 private key (make one with `berth keygen signing`)",
      });
    }
  }
  return { inputs: news, failures };
}

/** What a node sees: where, which build and files, which signer. Credentials alone change nothing. */
function fingerprint(i: StargzToolsInputs): string {
  const where = channelLocation(i.channel);
  return JSON.stringify([
    ...where,
    i.build,
    i.files.map((f) => [f.name, f.arch, f.sha256]),
    i.berthProviderVersion,
    signerOf(i.signingKey),
  ]);
}

export async function diff(
  _id: string,
  olds: StargzToolsOutputs,
  news: StargzToolsInputs,
): Promise<pulumi.dynamic.DiffResult> {
  if (isUnknown(news)) return { changes: true, replaces: [], deleteBeforeReplace: false };
  const changes =
    fingerprint(olds) !== fingerprint(news) || channelCredentialsChanged(olds.channel, news.channel);
  return { changes, replaces: [], deleteBeforeReplace: false };
}

/** Reads the build's files, each checked against the SHA-256 the program took. */
function readBuild(i: StargzToolsInputs) {
  return i.files.map((f) => {
    const p = nodeToolBuildPath(i.dir, f.arch, f.name);
    let bytes: Buffer;
    try {
      bytes = readFileSync(p);
    } catch {
      throw new Error(
        `the stargz tools' file ${p} is missing: run \`npm run setup\`, then \`pulumi up\` again`,
      );
    }
    if (sha256Hex(bytes) !== f.sha256)
      throw new Error(
        `${p} changed since the program read it (sha256 ${sha256Hex(bytes).slice(0, 12)}…, expected ${f.sha256.slice(0, 12)}…): run \`pulumi up\` again`,
      );
    return { name: f.name, arch: f.arch, bytes };
  });
}

async function publish(i: StargzToolsInputs, previousKeys: string[]): Promise<StargzToolsOutputs> {
  const files = readBuild(i);
  // Refuses a file whose ELF header names another CPU than the one it is published for.
  const manifest = signNodeTools(files, { build: i.build, signingKey: i.signingKey });
  const keys = files.map((f) => nodeToolKey(i.build, f.arch, f.name));
  await withChannel(i.channel, async (store) => {
    for (const f of files) await store.put(nodeToolKey(i.build, f.arch, f.name), f.bytes);
    // Last: a node never finds a manifest whose files are not all there.
    await store.put(NODE_TOOLS_MANIFEST_KEY, `${JSON.stringify(manifest, null, 2)}\n`);
    for (const k of previousKeys.filter((k) => !keys.includes(k))) await store.delete(k);
  });
  return {
    ...i,
    manifestKey: NODE_TOOLS_MANIFEST_KEY,
    keys,
    previousKeys: [],
    signedBy: signerOf(i.signingKey),
  };
}

async function unpublish(o: Pick<StargzToolsOutputs, "channel" | "keys" | "previousKeys">): Promise<void> {
  await withChannel(o.channel, async (store) => {
    await store.delete(NODE_TOOLS_MANIFEST_KEY);
    for (const k of [...o.keys, ...o.previousKeys]) await store.delete(k);
  });
}

export async function create(news: StargzToolsInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await publish(news, []);
  const where =
    news.channel.kind === "folder" ? `file://${news.channel.path}` : `s3://${news.channel.bucket}`;
  return { id: `${where}/${NODE_TOOLS_MANIFEST_KEY}`, outs };
}

export async function update(
  _id: string,
  olds: StargzToolsOutputs,
  news: StargzToolsInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  const location = (i: StargzToolsInputs) =>
    JSON.stringify(
      i.channel.kind === "folder"
        ? [i.channel.path]
        : [i.channel.endpoint, i.channel.bucket, i.channel.prefix],
    );
  const moved = location(olds) !== location(news);
  // The build before the previous one goes; the previous one stays beside the new one.
  const outs = await publish(news, moved ? [] : (olds.previousKeys ?? []));
  const kept = moved ? [] : (olds.keys ?? []).filter((k) => !outs.keys.includes(k));
  // Moved: the old objects go (with the old credentials; a channel that is gone is no error).
  if (moved) await unpublish(olds).catch(() => undefined);
  return { outs: { ...outs, previousKeys: kept } };
}

export async function remove(_id: string, olds: StargzToolsOutputs): Promise<void> {
  await unpublish(olds);
}
