// Key pairs for releases: Ed25519 signing keys (the signer holds the private key, nodes trust
// public keys) and X25519 node keys (secrets are sealed to a node's public key).
//
// Canonical text form of every key: base64url without padding of the raw 32 bytes (RFC 8032 /
// RFC 7748 encodings: the public key, or the private seed/scalar), the same bytes as a JWK's
// `x` / `d`. Loading also accepts standard base64 (with or without padding) and PEM (SPKI for
// public keys, unencrypted PKCS#8 for private keys), and a node:crypto KeyObject. Raw text carries
// no type: it is read as the kind of key the loader asks for, so keep private and public apart.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { fromAnyBase64, sha256Hex, toBase64Url } from "./encoding";

export type KeyKind = "ed25519" | "x25519";

/** A key as given by a user or config: canonical text, base64, PEM, or a KeyObject. */
export type KeyInput = string | KeyObject;

export interface SigningKeyPair {
  /** `ed25519:` + hex of the first 16 bytes of SHA-256 of the raw public key. */
  keyId: string;
  /** Raw 32-byte Ed25519 public key, base64url. Give this to nodes as a trusted key. */
  publicKey: string;
  /** Raw 32-byte Ed25519 seed, base64url. Keep it secret (Pulumi config secret). */
  privateKey: string;
}

export interface NodeKeyPair {
  /** Raw 32-byte X25519 public key, base64url. */
  publicKey: string;
  /** Raw 32-byte X25519 private scalar, base64url. Stays on the node. */
  privateKey: string;
}

/** A key that cannot be loaded. The message never contains key material. */
export class KeyError extends Error {
  override readonly name = "KeyError";
  readonly code = "INVALID_KEY";
}

// DER headers of SubjectPublicKeyInfo / PKCS#8 for the two curves (RFC 8410); the raw key follows.
const SPKI_PREFIX: Record<KeyKind, Buffer> = {
  ed25519: Buffer.from("302a300506032b6570032100", "hex"),
  x25519: Buffer.from("302a300506032b656e032100", "hex"),
};
const PKCS8_PREFIX: Record<KeyKind, Buffer> = {
  ed25519: Buffer.from("302e020100300506032b657004220420", "hex"),
  x25519: Buffer.from("302e020100300506032b656e04220420", "hex"),
};

const LABEL: Record<KeyKind, string> = { ed25519: "Ed25519", x25519: "X25519" };

/**
 * Keys given as text, already loaded (KeyObjects are immutable): each release seals to the node's
 * key and signs with the program's, and node:crypto's parse of a key was ~4% of a release's
 * build (bench:contract). A few keys per process; bounded all the same.
 */
const loaded = new Map<string, KeyObject>();
const MAX_LOADED = 64;

function loadKey(input: KeyInput, kind: KeyKind, visibility: "public" | "private"): KeyObject {
  if (typeof input !== "string") return loadKeyObject(input, kind, visibility);
  const cacheKey = `${kind} ${visibility} ${input}`;
  const hit = loaded.get(cacheKey);
  if (hit) return hit;
  const key = loadKeyObject(input, kind, visibility);
  if (loaded.size >= MAX_LOADED) loaded.clear();
  loaded.set(cacheKey, key);
  return key;
}

function loadKeyObject(input: KeyInput, kind: KeyKind, visibility: "public" | "private"): KeyObject {
  const what = `${LABEL[kind]} ${visibility} key`;
  let key: KeyObject;
  if (typeof input === "string") {
    const text = input.trim();
    try {
      if (text.startsWith("-----BEGIN")) {
        key = visibility === "public" ? createPublicKey(text) : createPrivateKey(text);
      } else {
        const raw = fromAnyBase64(text);
        if (raw === undefined || raw.length !== 32) {
          throw new KeyError(`${what}: expected 32 bytes in base64url (or base64, or PEM)`);
        }
        const prefix = visibility === "public" ? SPKI_PREFIX[kind] : PKCS8_PREFIX[kind];
        const der = Buffer.concat([prefix, raw]);
        key =
          visibility === "public"
            ? createPublicKey({ key: der, format: "der", type: "spki" })
            : createPrivateKey({ key: der, format: "der", type: "pkcs8" });
      }
    } catch (error) {
      if (error instanceof KeyError) throw error;
      throw new KeyError(`${what}: not a valid key (PEM or 32 raw bytes in base64url)`);
    }
  } else {
    key = input;
    if (visibility === "private" && key.type !== "private") {
      throw new KeyError(`${what}: got a ${key.type} key`);
    }
    if (visibility === "public" && key.type === "private") key = createPublicKey(key);
    if (key.type === "secret") throw new KeyError(`${what}: got a secret key`);
  }
  if (key.asymmetricKeyType !== kind) {
    throw new KeyError(`${what}: got a ${key.asymmetricKeyType ?? key.type} key`);
  }
  return key;
}

/** Loads an Ed25519 public key (a private PEM or KeyObject gives its public half). */
export function loadSigningPublicKey(input: KeyInput): KeyObject {
  return loadKey(input, "ed25519", "public");
}

export function loadSigningPrivateKey(input: KeyInput): KeyObject {
  return loadKey(input, "ed25519", "private");
}

/** Loads an X25519 public key (a private PEM or KeyObject gives its public half). */
export function loadNodePublicKey(input: KeyInput): KeyObject {
  return loadKey(input, "x25519", "public");
}

export function loadNodePrivateKey(input: KeyInput): KeyObject {
  return loadKey(input, "x25519", "private");
}

function jwkField(key: KeyObject, field: "x" | "d"): Buffer {
  const value = key.export({ format: "jwk" })[field];
  if (typeof value !== "string")
    throw new KeyError(`key has no ${field === "x" ? "public" : "private"} part`);
  return Buffer.from(value, "base64url");
}

/** The raw 32 bytes of a public KeyObject (Ed25519 or X25519). */
export function rawPublicKey(key: KeyObject): Buffer {
  return jwkField(key.type === "private" ? createPublicKey(key) : key, "x");
}

/** The canonical text form (raw, base64url) of a public key. */
export function publicKeyText(key: KeyObject): string {
  return toBase64Url(rawPublicKey(key));
}

/** The canonical text form (raw, base64url) of a private key. Handle with care. */
export function privateKeyText(key: KeyObject): string {
  if (key.type !== "private") throw new KeyError("not a private key");
  return toBase64Url(jwkField(key, "d"));
}

/** The key id of an Ed25519 public key: `ed25519:` + hex(first 16 bytes of SHA-256(raw key)). */
export function keyIdOf(publicKey: KeyInput): string {
  const known = typeof publicKey === "string" ? undefined : keyIds.get(publicKey);
  if (known) return known;
  const id = `ed25519:${sha256Hex(rawPublicKey(loadSigningPublicKey(publicKey))).slice(0, 32)}`;
  if (typeof publicKey !== "string") keyIds.set(publicKey, id);
  return id;
}
/** Key ids of KeyObjects (a private key's is its public half's): signing names one per release. */
const keyIds = new WeakMap<KeyObject, string>();

/** A new Ed25519 signing key pair in canonical text form, with its key id. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    keyId: keyIdOf(publicKey),
    publicKey: publicKeyText(publicKey),
    privateKey: privateKeyText(privateKey),
  };
}

/** A new X25519 node key pair in canonical text form. */
export function generateNodeKeyPair(): NodeKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: publicKeyText(publicKey), privateKey: privateKeyText(privateKey) };
}
