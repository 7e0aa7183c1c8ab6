// The node's X25519 key pair: made at first start, private key mode 0600, never leaves the node.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  generateNodeKeyPair,
  loadNodePrivateKey,
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
