// The AgentBundle dynamic provider's logic: puts the signed agent bundle (`<key>` and `<key>.sig`,
// see components/deployment-node/agent-bundle.ts) into a release channel, where the installer of
// a cloud node's user data fetches it at first boot. The bundle is read from its file at apply
// time (1.6 MB: it stays out of the state); its SHA-256, taken when the program ran, is the input
// a change is decided on, and create/update refuse a file that changed since.
import { createHash, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { loadSigningPrivateKey, publicKeyText } from "../../contract/payload";
import { agentVersionSchema, manifestKeyOf } from "../../contract/trust/bundle";
import { agentBundleObjects } from "../deployment-node/agent-bundle";
import { channelCredentialsChanged, channelLocation, withChannel } from "./channel";
import { isUnknown } from "./unknown";

export interface AgentBundleInputs {
  berthKind: "agent-bundle";
  berthProviderVersion: string;
  /** Where to publish, with the program's (write) credentials. */
  channel: ChannelSpec;
  /** Absolute path of the bundle (dist/berth-agent.js). */
  bundlePath: string;
  /** SHA-256 (hex) of the bundle when the program ran. */
  bundleSha256: string;
  /** The bundle's channel key; its signature is `<key>.sig`. */
  key: string;
  /** The release-signing private key (its public key is among the nodes' trusted keys). */
  signingKey: string;
  /** The bundle's version (`berth-agent version`): running agents install only a newer one. */
  version?: string;
}

export interface AgentBundleOutputs extends AgentBundleInputs {
  signatureKey: string;
  /** The signed manifest running agents read (absent when no version was given). */
  manifestKey?: string;
  /** The public key whose signature the nodes will check. */
  signedBy: string;
  bytes: number;
}

function keyProblem(key: unknown): string | undefined {
  if (typeof key !== "string" || key === "") return "a channel key like agent/berth-agent.js";
  if (key.startsWith("/") || key.split("/").some((p) => p === "" || p === "." || p === ".."))
    return `${JSON.stringify(key)} is not a channel key (no leading "/", no empty, "." or ".." parts)`;
  return undefined;
}

function signerOf(signingKey: string): string {
  return publicKeyText(createPublicKey(loadSigningPrivateKey(signingKey)));
}

export async function check(
  _olds: Partial<AgentBundleInputs>,
  news: AgentBundleInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const kp = keyProblem(news.key);
  if (kp) failures.push({ property: "key", reason: kp });
  if (typeof news.bundlePath !== "string" || !isAbsolute(news.bundlePath))
    failures.push({ property: "bundlePath", reason: "an absolute path of the agent bundle" });
  if (typeof news.bundleSha256 !== "string" || !/^[0-9a-f]{64}$/.test(news.bundleSha256))
    failures.push({ property: "bundleSha256", reason: "the bundle's SHA-256 in hex" });
  if (
    news.version !== undefined &&
    !isUnknown(news.version) &&
    !agentVersionSchema.safeParse(news.version).success
  )
    failures.push({
      property: "version",
      reason: `${JSON.stringify(news.version)} is not MAJOR.MINOR.PATCH (node-agent/version.ts)`,
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

/** What a node sees: where the objects are, which bundle, which signer. Credentials alone change nothing. */
function fingerprint(i: AgentBundleInputs): string {
  const where = channelLocation(i.channel);
  return JSON.stringify([
    ...where,
    i.key,
    i.bundleSha256,
    i.berthProviderVersion,
    signerOf(i.signingKey),
    i.version ?? null,
  ]);
}

export async function diff(
  _id: string,
  olds: AgentBundleOutputs,
  news: AgentBundleInputs,
): Promise<pulumi.dynamic.DiffResult> {
  if (isUnknown(news)) return { changes: true, replaces: [], deleteBeforeReplace: false };
  const changes =
    fingerprint(olds) !== fingerprint(news) || channelCredentialsChanged(olds.channel, news.channel);
  return { changes, replaces: [], deleteBeforeReplace: false };
}

async function publish(i: AgentBundleInputs): Promise<AgentBundleOutputs> {
  const bundle = readFileSync(i.bundlePath, "utf8");
  const sha = createHash("sha256").update(bundle, "utf8").digest("hex");
  if (sha !== i.bundleSha256) {
    throw new Error(
      `the agent bundle ${i.bundlePath} changed since the program read it (sha256 ${sha.slice(0, 12)}…, expected ${i.bundleSha256.slice(0, 12)}…): run \`pulumi up\` again`,
    );
  }
  const objects = agentBundleObjects(bundle, i.signingKey, i.key, i.version);
  await withChannel(i.channel, async (store) => {
    // The bundle first, its signature last: a node never finds a signature without its bundle.
    for (const o of objects) await store.put(o.key, o.body);
  });
  return {
    ...i,
    signatureKey: `${i.key}.sig`,
    ...(i.version !== undefined ? { manifestKey: manifestKeyOf(i.key) } : {}),
    signedBy: signerOf(i.signingKey),
    bytes: Buffer.byteLength(bundle, "utf8"),
  };
}

async function unpublish(o: Pick<AgentBundleOutputs, "channel" | "key">): Promise<void> {
  await withChannel(o.channel, async (store) => {
    await store.delete(manifestKeyOf(o.key));
    await store.delete(`${o.key}.sig`);
    await store.delete(o.key);
  });
}

export async function create(news: AgentBundleInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await publish(news);
  const where =
    news.channel.kind === "folder" ? `file://${news.channel.path}` : `s3://${news.channel.bucket}`;
  return { id: `${where}/${news.key}`, outs };
}

export async function update(
  _id: string,
  olds: AgentBundleOutputs,
  news: AgentBundleInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  const outs = await publish(news);
  const location = (i: AgentBundleInputs) =>
    JSON.stringify(
      i.channel.kind === "folder"
        ? [i.channel.path, i.key]
        : [i.channel.endpoint, i.channel.bucket, i.channel.prefix, i.key],
    );
  // Moved: the old objects go (with the old credentials; a channel that is gone is no error).
  if (location(olds) !== location(news)) await unpublish(olds).catch(() => undefined);
  return { outs };
}

export async function remove(_id: string, olds: AgentBundleOutputs): Promise<void> {
  await unpublish(olds);
}
