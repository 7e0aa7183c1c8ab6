// The program's next sequence for a node's environment, from what it can trust only: its own
// state (the last sequence it published, `floor`) and the releases and withdrawals in the
// channel whose signature verifies with the program's own signing key and whose key names the
// signed sequence. A channel writer's junk keys (releases/9007199254740991.json) are ignored,
// so they cannot move the sequence to 2^53-1 and freeze the environment. Unsigned statuses do
// not count.
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { fromBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey, loadSigningPublicKey } from "../payload/keys";
import { releaseEnvelopeSchema } from "../payload/schema";
import { payloadSigningBytes } from "../payload/sign";
import { TrustedKeys } from "../payload/verify";
import { channelKeys } from "./layout";
import type { ChannelStore } from "./store";
import { verifyWithdrawal } from "./withdrawal";

/** At most this many of the highest release keys above the floor are fetched and checked. */
export const MAX_CHECKED_RELEASE_KEYS = 32;

/** The sequences named by release keys under a prefix (`…/releases/<n>.json`), highest first. */
export function releaseKeySequences(keys: readonly string[]): number[] {
  const out: number[] = [];
  for (const k of keys) {
    const m = /\/releases\/([1-9][0-9]{0,15})\.json$/.exec(k);
    const n = m ? Number(m[1]) : Number.NaN;
    if (Number.isSafeInteger(n)) out.push(n);
  }
  return out.sort((a, b) => b - a);
}

/** Whether `text` is a release this key signed for this node and environment, as release `seq`. */
export function isOwnRelease(
  text: string,
  o: { key: KeyObject; nodeId: string; environmentId: string; sequence: number },
): boolean {
  try {
    const env = releaseEnvelopeSchema.safeParse(JSON.parse(text));
    if (!env.success || env.data.keyId !== keyIdOf(o.key)) return false;
    const { payload } = env.data;
    const sig = fromBase64Url(env.data.signature);
    return (
      sig !== undefined &&
      payload.nodeId === o.nodeId &&
      payload.environmentId === o.environmentId &&
      payload.sequence === o.sequence &&
      verify(null, payloadSigningBytes(payload), o.key, sig)
    );
  } catch {
    return false;
  }
}

function publicOf(signingKey: KeyInput): KeyObject {
  try {
    return createPublicKey(loadSigningPrivateKey(signingKey));
  } catch {
    return loadSigningPublicKey(signingKey);
  }
}

export async function nextSequence(
  channel: ChannelStore,
  o: {
    nodeId: string;
    environmentId: string;
    /** The last sequence the program's own state holds (0: none). */
    floor: number;
    /** The release signing key (private or public). */
    signingKey: KeyInput;
  },
): Promise<number> {
  const key = publicOf(o.signingKey);
  let highest = Math.max(0, o.floor);
  const prefix = `${channelKeys.environmentsPrefix(o.nodeId)}${o.environmentId}/releases/`;
  const candidates = releaseKeySequences(await channel.list(prefix))
    .filter((n) => n > highest)
    .slice(0, MAX_CHECKED_RELEASE_KEYS);
  for (const n of candidates) {
    const text = await channel.get(channelKeys.release(o.nodeId, o.environmentId, n)).catch(() => undefined);
    if (
      text !== undefined &&
      isOwnRelease(text, { key, nodeId: o.nodeId, environmentId: o.environmentId, sequence: n })
    ) {
      highest = n;
      break;
    }
  }
  const w = await channel.get(channelKeys.withdrawal(o.nodeId, o.environmentId)).catch(() => undefined);
  if (w !== undefined) {
    const v = verifyWithdrawal(w, {
      trustedKeys: new TrustedKeys([key]),
      nodeId: o.nodeId,
      environmentId: o.environmentId,
    });
    if (v.ok) highest = Math.max(highest, v.withdrawal.sequence);
  }
  return highest + 1;
}
