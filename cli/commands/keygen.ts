import { generateNodeKeyPair, generateSigningKeyPair } from "../../contract/payload";
import { parse, required } from "../args";
import { type Io, UsageError } from "../io";

export const KEYGEN_USAGE = `usage: berth keygen signing|operator|node --out PREFIX

Makes a key pair and writes PREFIX.key (private, mode 0600) and PREFIX.pub (public).
  signing   Ed25519: signs releases; nodes trust its public key
  operator  Ed25519: an operator's key; its public key goes in berth:operators, the private
            key signs the CLI's access tokens (berth logs, exec, run, workspace shell)
  node      X25519: a node's key; releases seal secrets to its public key
Keys are written as base64url of their raw 32 bytes.`;

export async function keygen(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: "string" } }, KEYGEN_USAGE);
  if (values.help) {
    io.out(KEYGEN_USAGE);
    return 0;
  }
  const kind = positionals[0];
  if (kind !== "signing" && kind !== "operator" && kind !== "node")
    throw new UsageError(`say which key: signing, operator or node\n${KEYGEN_USAGE}`);
  const prefix = required(values, "out", KEYGEN_USAGE);
  const pair = kind !== "node" ? generateSigningKeyPair() : { ...generateNodeKeyPair(), keyId: undefined };
  io.writeFile(`${prefix}.key`, `${pair.privateKey}\n`, 0o600);
  io.writeFile(`${prefix}.pub`, `${pair.publicKey}\n`, 0o644);
  io.out(`wrote ${prefix}.key and ${prefix}.pub${pair.keyId ? ` (key id ${pair.keyId})` : ""}`);
  return 0;
}
