// The node's keys, made at first start, private keys mode 0600, never leaving the node: the X25519
// sealing key (secrets are sealed to it) and the Ed25519 status key (it signs the statuses).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  loadNodePrivateKey,
  loadSigningPrivateKey,
  type NodeKeyPair,
  publicKeyText,
} from "../contract/payload";
import { writeFileAtomic } from "../lib/atomic-write";

export function loadOrCreateNodeKeys(stateRoot: string): NodeKeyPair & { created: boolean } {
  const dir = join(stateRoot, "keys");
  const priv = join(dir, "node.key");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(priv)) {
    const privateKey = readFileSync(priv, "utf8").trim();
    const key = loadNodePrivateKey(privateKey);
    const { createPublicKey } = require("node:crypto") as typeof import("node:crypto");
    return { privateKey, publicKey: publicKeyText(createPublicKey(key)), created: false };
  }
  const pair = generateNodeKeyPair();
  writeFileAtomic(priv, `${pair.privateKey}\n`, 0o600);
  writeFileAtomic(join(dir, "node.pub"), `${pair.publicKey}\n`, 0o644);
  return { ...pair, created: true };
}

/**
 * The node's Ed25519 status key: made at first start beside the sealing key (private key mode
 * 0600, never leaves the node); the node signs every status it writes with it.
 */
export function loadOrCreateStatusKey(stateRoot: string): { publicKey: string; privateKey: string } {
  const dir = join(stateRoot, "keys");
  const priv = join(dir, "status.key");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(priv)) {
    const privateKey = readFileSync(priv, "utf8").trim();
    return { privateKey, publicKey: publicKeyText(loadSigningPrivateKey(privateKey)) };
  }
  const pair = generateSigningKeyPair();
  writeFileAtomic(priv, `${pair.privateKey}\n`, 0o600);
  writeFileAtomic(join(dir, "status.pub"), `${pair.publicKey}\n`, 0o644);
  return { privateKey: pair.privateKey, publicKey: pair.publicKey };
}
