// berth:trust, resolved: the trust set the program publishes, checked against the signing key
// before anything is declared. Pure; each problem names the config key to fix.
import { createPublicKey } from "node:crypto";
import { keyIdOf, loadSigningPrivateKey, loadSigningPublicKey, publicKeyText } from "../contract/payload";
import type { StackConfig } from "./config";

export interface ResolvedTrust {
  /** Root public keys, canonical text: every node's `trustRoots` (user data). */
  roots: string[];
  /** Release public keys the trust set names, canonical text. */
  releaseKeys: string[];
  /** Revoked key ids. */
  revoked: string[];
  validityDays: number;
  renewBeforeDays: number;
}

const ID = /^ed25519:[0-9a-f]{32}$/;

/**
 * undefined when berth:trust is not set (nodes trust the signing key's public key and
 * berth:trustedKeys from their user data, as before). Throws a list of `berth:KEY: problem` lines.
 */
export function resolveTrust(config: StackConfig): ResolvedTrust | undefined {
  const t = config.trust;
  if (!t) return undefined;
  const problems: string[] = [];
  const pub = (k: string, where: string): string | undefined => {
    try {
      return publicKeyText(loadSigningPublicKey(k));
    } catch {
      problems.push(`${where}: not an Ed25519 public key (base64url, base64 or PEM)`);
      return undefined;
    }
  };
  const roots = t.rootKeys.map((k, i) => pub(k, `berth:trust.rootKeys[${i}]`));
  const signer = publicKeyText(createPublicKey(loadSigningPrivateKey(config.signingKey)));
  const releaseKeys = (t.releaseKeys ?? [signer, ...config.trustedKeys]).map((k, i) =>
    pub(k, t.releaseKeys ? `berth:trust.releaseKeys[${i}]` : `berth:trustedKeys[${i - 1}]`),
  );
  const revoked = t.revoked.map((k, i) =>
    ID.test(k) ? k : pub(k, `berth:trust.revoked[${i}]`) && keyIdOf(k),
  );
  if (!config.trustRootKey)
    problems.push(
      'berth:trustRootKey: missing: berth:trust needs the root private key that signs the trust set (`pulumi config set --secret berth:trustRootKey "$(cat root.key)"`)',
    );
  else {
    try {
      const root = publicKeyText(createPublicKey(loadSigningPrivateKey(config.trustRootKey)));
      if (!roots.includes(root))
        problems.push(`berth:trustRootKey: its public key ${root} is not in berth:trust.rootKeys`);
    } catch {
      problems.push("berth:trustRootKey: not an Ed25519 private key (make one with `berth keygen signing`)");
    }
  }
  const revokedSet = new Set(revoked.filter((r): r is string => r !== undefined));
  if (!releaseKeys.includes(signer))
    problems.push(
      `berth:trust.releaseKeys: does not list the public key of berth:signingKey (${signer}); nodes would refuse every release`,
    );
  if (revokedSet.has(keyIdOf(signer)))
    problems.push(
      `berth:signingKey: its key ${keyIdOf(signer)} is revoked in berth:trust.revoked; sign with another key`,
    );
  releaseKeys.forEach((k, i) => {
    if (k && revokedSet.has(keyIdOf(k)) && k !== signer && t.releaseKeys)
      problems.push(
        `berth:trust.releaseKeys[${i}]: is revoked in berth:trust.revoked; remove it from releaseKeys`,
      );
    if (k && roots.includes(k))
      problems.push(`berth:trust.releaseKeys[${i}]: is also a root key; a root signs trust sets only`);
  });
  roots.forEach((k, i) => {
    if (k && revokedSet.has(keyIdOf(k)))
      problems.push(`berth:trust.rootKeys[${i}]: is revoked in berth:trust.revoked`);
  });
  if (t.renewBeforeDays >= t.validityDays)
    problems.push("berth:trust.renewBeforeDays: must be below berth:trust.validityDays");
  if (problems.length > 0) throw new TrustConfigError(problems);
  const defined = (l: (string | undefined)[]) => [...new Set(l as string[])].sort();
  return {
    roots: defined(roots),
    // Defaulted from berth:trustedKeys, a revoked one simply drops out.
    releaseKeys: defined(releaseKeys).filter((k) => !revokedSet.has(keyIdOf(k))),
    revoked: [...revokedSet].sort(),
    validityDays: t.validityDays,
    renewBeforeDays: t.renewBeforeDays,
  };
}

export class TrustConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "TrustConfigError";
  }
}
