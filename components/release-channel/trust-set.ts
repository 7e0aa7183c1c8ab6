// The signed trust set in a release channel (`agent/trust-set.json`): which keys every node of the
// stack trusts to sign releases (release keys), which sign the next trust set (roots), and which
// are revoked for good. A dynamic resource, child of the channel; its logic is
// components/runtime/trust-set.ts, the format contract/trust. Keys change on running nodes at
// their next poll: no node's user data, and so no server, changes.
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { keyIdOf, publicKeyText } from "../../contract/payload";
import { loadSigningPublicKey } from "../../contract/payload/keys";
import { PROVIDER_RUNTIME } from "../runtime-path";

export const TRUST_SET_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => require(runtime).trustSet.check(olds, news),
  diff: (id, olds, news) => require(runtime).trustSet.diff(id, olds, news),
  create: (news) => require(runtime).trustSet.create(news),
  update: (id, olds, news) => require(runtime).trustSet.update(id, olds, news),
  delete: (id, olds) => require(runtime).trustSet.remove(id, olds),
};

export interface TrustSetArgs {
  /** The channel with the program's write credentials. */
  channel: pulumi.Input<ChannelSpec>;
  /** The root private key (secret) that signs the trust set; its public key is in `roots`. */
  rootKey: pulumi.Input<string>;
  /** Root public keys: the nodes' `trustRoots` (user data), or roots named by an earlier set. */
  roots: string[];
  /** Release public keys (base64url raw, base64 or PEM). */
  releaseKeys: string[];
  /** Revoked keys: public keys or key ids (`ed25519:<32 hex>`). Final. */
  revoked?: string[];
  /** How long a published set is valid (default 30 days) and how early it is renewed (10). */
  validityDays?: number;
  renewBeforeDays?: number;
}

/** A key id, whether given as an id or as a public key. */
export function revokedId(k: string): string {
  return /^ed25519:[0-9a-f]{32}$/.test(k) ? k : keyIdOf(k);
}

const canonical = (keys: string[]) =>
  [...new Set(keys.map((k) => publicKeyText(loadSigningPublicKey(k))))].sort();

export class TrustSet extends pulumi.dynamic.Resource {
  declare readonly generation: pulumi.Output<number>;
  declare readonly expiresAt: pulumi.Output<string>;
  declare readonly releaseKeyIds: pulumi.Output<string[]>;
  declare readonly key: pulumi.Output<string>;

  constructor(name: string, args: TrustSetArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        berthKind: "trust-set",
        berthProviderVersion: TRUST_SET_PROVIDER_VERSION,
        channel: pulumi.secret(args.channel),
        rootKey: pulumi.secret(args.rootKey),
        roots: canonical(args.roots),
        threshold: 1,
        releaseKeys: canonical(args.releaseKeys),
        revoked: [...new Set((args.revoked ?? []).map(revokedId))].sort(),
        validityDays: args.validityDays ?? 30,
        renewBeforeDays: args.renewBeforeDays ?? 10,
        key: undefined,
        generation: undefined,
        expiresAt: undefined,
        payloadSha256: undefined,
        releaseKeyIds: undefined,
      },
      { ...opts, additionalSecretOutputs: ["channel", "rootKey"] },
    );
  }
}
