// A deploy key for a private repository over SSH: an unencrypted Ed25519 key in OpenSSH's format
// (`ssh-keygen -t ed25519 -N ''`), read by the program at preview (to refuse a wrong one there)
// and by the agent, which signs with it for git's ssh (node-agent/workspace/ssh-agent.ts) and
// never writes it to a file. Also the repository URL's SSH form and known_hosts lines.
import { createPrivateKey, type KeyObject } from "node:crypto";

export interface SshDeployKey {
  /** The public key as SSH sends it (string "ssh-ed25519", string key). */
  publicBlob: Buffer;
  /** `ssh-ed25519 AAAA…`: what the git host holds as the deploy key. */
  publicLine: string;
  privateKey: KeyObject;
}

export class SshKeyError extends Error {}

const MAGIC = Buffer.from("openssh-key-v1\0", "latin1");

class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number {
    if (this.at + 4 > this.b.length) throw new SshKeyError("the key is cut short");
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.at + n > this.b.length) throw new SshKeyError("the key is cut short");
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  text(): string {
    return this.bytes().toString("latin1");
  }
}

/** SSH's `string`: a 4-byte length, then the bytes. */
export function sshString(b: Buffer | string): Buffer {
  const v = typeof b === "string" ? Buffer.from(b, "latin1") : b;
  const n = Buffer.alloc(4);
  n.writeUInt32BE(v.length);
  return Buffer.concat([n, v]);
}

const b64url = (b: Buffer) => b.toString("base64url");

/** Reads a deploy key; throws SshKeyError saying what is wrong (never quoting the key). */
export function parseSshDeployKey(text: string): SshDeployKey {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m)
    throw new SshKeyError(
      "not a private key in OpenSSH's format (-----BEGIN OPENSSH PRIVATE KEY-----): make one with ssh-keygen -t ed25519 -N ''",
    );
  const raw = Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64");
  if (!raw.subarray(0, MAGIC.length).equals(MAGIC)) throw new SshKeyError("not an openssh-key-v1 key");
  const r = new Reader(raw.subarray(MAGIC.length));
  const cipher = r.text();
  r.text(); // kdf name
  r.bytes(); // kdf options
  if (cipher !== "none")
    throw new SshKeyError(
      "the key is encrypted with a passphrase: the agent has no one to ask it; give an unencrypted deploy key (ssh-keygen -N '')",
    );
  if (r.u32() !== 1) throw new SshKeyError("the file holds more than one key");
  const publicBlob = Buffer.from(r.bytes());
  const p = new Reader(r.bytes());
  const check1 = p.u32();
  if (check1 !== p.u32()) throw new SshKeyError("the key's check bytes differ: the file is damaged");
  const type = p.text();
  if (type !== "ssh-ed25519")
    throw new SshKeyError(
      `the key is ${type}; the agent signs only with ssh-ed25519 keys (ssh-keygen -t ed25519)`,
    );
  const pub = p.bytes();
  const secret = p.bytes();
  if (pub.length !== 32 || secret.length !== 64 || !secret.subarray(32).equals(pub))
    throw new SshKeyError("the Ed25519 key's parts have the wrong sizes: the file is damaged");
  const expected = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  if (!publicBlob.equals(expected)) throw new SshKeyError("the public and private halves do not match");
  const privateKey = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: b64url(secret.subarray(0, 32)), x: b64url(pub) },
    format: "jwk",
  });
  return { publicBlob, publicLine: `ssh-ed25519 ${publicBlob.toString("base64")}`, privateKey };
}

export interface SshRepository {
  user?: string;
  host: string;
  port?: number;
}

/** The user, host and port of an SSH repository URL (`ssh://git@host:22/x.git`, `git@host:x.git`). */
export function sshRepository(repository: string): SshRepository | undefined {
  if (/^ssh:\/\//.test(repository)) {
    let u: URL;
    try {
      u = new URL(repository);
    } catch {
      return undefined;
    }
    if (!u.hostname) return undefined;
    return {
      ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
      host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
      ...(u.port ? { port: Number(u.port) } : {}),
    };
  }
  // scp-like: [user@]host:path, where host has no slash and the path does not start with //.
  const scp = /^(?:([^@/:]+)@)?([a-zA-Z0-9.-]+):(?!\/\/)[^\s]+$/.exec(repository);
  if (!scp) return undefined;
  return { ...(scp[1] ? { user: scp[1] } : {}), host: scp[2] as string };
}

/** known_hosts lines (`host[,host] keytype base64`), checked for form; comments and blanks kept out. */
export function knownHostsLines(text: string): string[] {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const [i, l] of lines.entries())
    if (
      !/^(@[a-z-]+ )?\S+ (ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-\S+) [A-Za-z0-9+/]+=*( .*)?$/.test(
        l,
      )
    )
      throw new SshKeyError(
        `line ${i + 1} is not a known_hosts line ("host keytype base64", as ssh-keyscan prints)`,
      );
  return lines;
}
