// The TrustSet dynamic provider's logic: signs the stack's trust set (contract/trust) with the
// root key and puts it at `agent/trust-set.json` of the channel, where every agent reads it at
// each poll. Each change of the keys takes the next generation (from the state, and from a
// root-signed trust set found in the channel); a trust set close to its expiry is renewed by
// the next `pulumi up` (diff reports it), which is what the scheduled workflow runs.
import { createPublicKey } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { channelKeys } from "../../contract/channel/layout";
import { keyIdOf, loadSigningPrivateKey, loadSigningPublicKey, publicKeyText } from "../../contract/payload";
import { createTrustSetPayload, payloadSha256, signTrustSet, verifiedGeneration } from "../../contract/trust";
import { channelCredentialsChanged, channelLocation, openChannel } from "./channel";
import { isUnknown } from "./unknown";

export interface TrustSetInputs {
  berthKind: "trust-set";
  berthProviderVersion: string;
  channel: ChannelSpec;
  /** The root private key (secret): signs the trust set. Its public key is among `roots`. */
  rootKey: string;
  /** Root public keys, canonical text, sorted. */
  roots: string[];
  threshold: number;
  /** Release public keys, canonical text, sorted. */
  releaseKeys: string[];
  /** Revoked key ids, sorted. */
  revoked: string[];
  validityDays: number;
  renewBeforeDays: number;
}

export interface TrustSetOutputs extends TrustSetInputs {
  key: string;
  generation: number;
  expiresAt: string;
  payloadSha256: string;
  /** The release key ids the nodes trust with this set. */
  releaseKeyIds: string[];
}

function rootOf(rootKey: string): string {
  return publicKeyText(createPublicKey(loadSigningPrivateKey(rootKey)));
}

export async function check(
  _olds: Partial<TrustSetInputs>,
  news: TrustSetInputs,
): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (isUnknown(news)) return { inputs: news, failures };
  let root: string | undefined;
  try {
    root = rootOf(news.rootKey);
  } catch {
    failures.push({
      property: "rootKey",
      reason: "berth:trustRootKey: not an Ed25519 private key (make one with `berth keygen signing`)",
    });
  }
  if (root !== undefined && !news.roots.includes(root))
    failures.push({
      property: "roots",
      reason: `berth:trustRootKey's public key ${root} is not in berth:trust.rootKeys: nodes would refuse what it signs`,
    });
  for (const [what, list] of [
    ["roots", news.roots],
    ["releaseKeys", news.releaseKeys],
  ] as const) {
    for (const k of list) {
      try {
        loadSigningPublicKey(k);
      } catch {
        failures.push({ property: what, reason: `${k.slice(0, 12)}… is not an Ed25519 public key` });
      }
    }
  }
  if (failures.length === 0) {
    try {
      createTrustSetPayload({ generation: 1, ...news });
    } catch (e) {
      failures.push({ property: "releaseKeys", reason: (e as Error).message });
    }
  }
  return { inputs: news, failures };
}

/** What the nodes see; credentials alone change nothing. */
function content(i: TrustSetInputs): string {
  const where = channelLocation(i.channel);
  return JSON.stringify([...where, i.roots, i.threshold, i.releaseKeys, i.revoked, i.validityDays]);
}

/** True when the published set expires within `renewBeforeDays` (the next `pulumi up` renews it). */
export function renewalDue(o: Pick<TrustSetOutputs, "expiresAt">, renewBeforeDays: number, now = new Date()) {
  return !(now.getTime() < Date.parse(o.expiresAt) - renewBeforeDays * 86_400_000);
}

export async function diff(
  _id: string,
  olds: TrustSetOutputs,
  news: TrustSetInputs,
): Promise<pulumi.dynamic.DiffResult> {
  if (isUnknown(news)) return { changes: true, replaces: [], deleteBeforeReplace: false };
  const rootChanged = olds.rootKey !== news.rootKey;
  const changes =
    content(olds) !== content(news) ||
    rootChanged ||
    channelCredentialsChanged(olds.channel, news.channel) ||
    renewalDue(olds, news.renewBeforeDays);
  return { changes, replaces: [], deleteBeforeReplace: false };
}

async function publish(i: TrustSetInputs, previous: number): Promise<TrustSetOutputs> {
  const store = openChannel(i.channel);
  try {
    const found = verifiedGeneration(await store.get(channelKeys.trustSet), i.roots);
    const generation = Math.max(previous, found) + 1;
    const issuedAt = new Date();
    const payload = createTrustSetPayload({
      generation,
      roots: i.roots,
      threshold: i.threshold,
      releaseKeys: i.releaseKeys,
      revoked: i.revoked,
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + i.validityDays * 86_400_000),
    });
    const envelope = signTrustSet(payload, [i.rootKey]);
    await store.put(channelKeys.trustSet, `${JSON.stringify(envelope, null, 2)}\n`);
    const revoked = new Set(i.revoked);
    return {
      ...i,
      key: channelKeys.trustSet,
      generation,
      expiresAt: payload.expiresAt,
      payloadSha256: payloadSha256(payload),
      releaseKeyIds: i.releaseKeys.map((k) => keyIdOf(k)).filter((id) => !revoked.has(id)),
    };
  } finally {
    (store as { destroy?: () => void }).destroy?.();
  }
}

export async function create(news: TrustSetInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await publish(news, 0);
  const where =
    news.channel.kind === "folder" ? `file://${news.channel.path}` : `s3://${news.channel.bucket}`;
  return { id: `${where}/${channelKeys.trustSet}`, outs };
}

export async function update(
  _id: string,
  olds: TrustSetOutputs,
  news: TrustSetInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await publish(news, olds.generation) };
}

/**
 * Deleting the resource leaves the trust set in the channel: nodes keep their set anyway (a
 * missing trust set changes nothing), and a later stack on the channel counts on its generation.
 */
export async function remove(_id: string, _olds: TrustSetOutputs): Promise<void> {}
