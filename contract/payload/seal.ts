// Sealing secret values to a node's X25519 public key (an ECIES-style sealed box).
//
//   eph        = fresh X25519 key pair (one per sealed value)
//   shared     = X25519(eph.private, recipient.public)            (all-zero result is refused)
//   okm        = HKDF-SHA256(ikm = shared, salt = eph.public || recipient.public,
//                            info = "berth/secret/v1", length = 44)
//   key, nonce = okm[0..32], okm[32..44]
//   aad        = canonical JSON of { domain: "berth/secret/v1", environmentId, nodeId, sequence, name }
//   ciphertext, tag = AES-256-GCM(key, nonce, aad, UTF-8 value)
//
// The nonce comes from the HKDF output: every box has its own ephemeral key, so key and nonce
// never repeat. The associated data binds a box to its environment, node, release sequence and
// secret name: a box moved to another of any of these fails to open.
import { createCipheriv, createDecipheriv, diffieHellman, generateKeyPairSync, hkdfSync } from "node:crypto";
import { canonicalBytes } from "./canonical";
import { fromBase64Url, toBase64Url } from "./encoding";
import { type KeyInput, loadNodePrivateKey, loadNodePublicKey, rawPublicKey } from "./keys";
import { SEAL_ALGORITHM, type SealedSecret, sealedSecretSchema } from "./schema";

export const SEAL_DOMAIN = "berth/secret/v1";

/** What a sealed secret is bound to. */
export interface ReleaseBinding {
  environmentId: string;
  nodeId: string;
  sequence: number;
}

export interface SecretBinding extends ReleaseBinding {
  /** The secret's name; also stored in the box as its label. */
  name: string;
}

export interface SealOptions {
  /**
   * TEST VECTORS ONLY: use this X25519 private key as the ephemeral key instead of a fresh one.
   * Reusing an ephemeral key for two values under the same binding reuses an AES-GCM nonce.
   */
  ephemeralPrivateKey?: KeyInput;
}

/** A sealed secret that cannot be opened. The message names the secret, never its value. */
export class SecretOpenError extends Error {
  override readonly name = "SecretOpenError";
  readonly code = "SECRET_OPEN_FAILED";
  constructor(
    readonly secretName: string,
    reason: string,
  ) {
    super(`secret ${JSON.stringify(secretName)} cannot be opened: ${reason}`);
  }
}

/** The associated data of a sealed box: the canonical JSON bytes of its binding. */
export function sealAssociatedData(binding: SecretBinding): Buffer {
  return canonicalBytes({
    domain: SEAL_DOMAIN,
    environmentId: binding.environmentId,
    nodeId: binding.nodeId,
    sequence: binding.sequence,
    name: binding.name,
  });
}

function deriveKeyAndNonce(shared: Buffer, ephemeralPublic: Buffer, recipientPublic: Buffer) {
  if (shared.every((b) => b === 0)) throw new Error("X25519 shared secret is all zero");
  const okm = Buffer.from(
    hkdfSync("sha256", shared, Buffer.concat([ephemeralPublic, recipientPublic]), SEAL_DOMAIN, 44),
  );
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44) };
}

/** Seals a secret value to a node's X25519 public key, bound to `binding`. */
export function seal(
  value: string,
  recipientPublicKey: KeyInput,
  binding: SecretBinding,
  options: SealOptions = {},
): SealedSecret {
  const recipient = loadNodePublicKey(recipientPublicKey);
  const ephemeralPrivate =
    options.ephemeralPrivateKey === undefined
      ? generateKeyPairSync("x25519").privateKey
      : loadNodePrivateKey(options.ephemeralPrivateKey);
  const ephemeralPublic = rawPublicKey(ephemeralPrivate);
  const shared = diffieHellman({ privateKey: ephemeralPrivate, publicKey: recipient });
  const { key, nonce } = deriveKeyAndNonce(shared, ephemeralPublic, rawPublicKey(recipient));
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  cipher.setAAD(sealAssociatedData(binding));
  const ciphertext = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  const box: SealedSecret = {
    name: binding.name,
    algorithm: SEAL_ALGORITHM,
    ephemeralPublicKey: toBase64Url(ephemeralPublic),
    ciphertext: toBase64Url(ciphertext),
    tag: toBase64Url(cipher.getAuthTag()),
  };
  return sealedSecretSchema.parse(box);
}

/**
 * Opens a sealed secret with the node's X25519 private key. Throws SecretOpenError when the box
 * is malformed, sealed to another key, bound to another environment/node/sequence/name, or
 * tampered with.
 */
export function unseal(box: SealedSecret, recipientPrivateKey: KeyInput, binding: SecretBinding): string {
  const parsed = sealedSecretSchema.safeParse(box);
  if (!parsed.success) throw new SecretOpenError(binding.name, "malformed sealed box");
  const ephemeralPublicRaw = fromBase64Url(parsed.data.ephemeralPublicKey);
  const ciphertext = fromBase64Url(parsed.data.ciphertext);
  const tag = fromBase64Url(parsed.data.tag);
  if (ephemeralPublicRaw?.length !== 32 || ciphertext === undefined || tag?.length !== 16) {
    throw new SecretOpenError(binding.name, "malformed sealed box");
  }
  const recipient = loadNodePrivateKey(recipientPrivateKey);
  try {
    const ephemeralPublic = loadNodePublicKey(toBase64Url(ephemeralPublicRaw));
    const shared = diffieHellman({ privateKey: recipient, publicKey: ephemeralPublic });
    const { key, nonce } = deriveKeyAndNonce(shared, ephemeralPublicRaw, rawPublicKey(recipient));
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
    decipher.setAAD(sealAssociatedData(binding));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch {
    throw new SecretOpenError(
      binding.name,
      "wrong node key, bound to another environment, node, release or name, or tampered with",
    );
  }
}

/** Seals every value of `values` (name → value) for one release, sorted by name. */
export function sealSecrets(
  values: Readonly<Record<string, string>>,
  recipientPublicKey: KeyInput,
  release: ReleaseBinding,
): SealedSecret[] {
  const recipient = loadNodePublicKey(recipientPublicKey);
  return Object.keys(values)
    .sort()
    .map((name) => seal(values[name] as string, recipient, { ...release, name }));
}

/** Opens every sealed secret of a (verified) payload with the node's private key: name → value. */
export function unsealSecrets(
  payload: ReleaseBinding & { secrets: readonly SealedSecret[] },
  recipientPrivateKey: KeyInput,
): Map<string, string> {
  const key = loadNodePrivateKey(recipientPrivateKey);
  const out = new Map<string, string>();
  for (const box of payload.secrets) {
    const binding = {
      environmentId: payload.environmentId,
      nodeId: payload.nodeId,
      sequence: payload.sequence,
      name: box.name,
    };
    out.set(box.name, unseal(box, key, binding));
  }
  return out;
}
