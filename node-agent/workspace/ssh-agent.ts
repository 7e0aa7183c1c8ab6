// A workspace's deploy key served as an ssh-agent (the protocol of OpenSSH's ssh-agent, the part a
// client signing in needs: list the identities, sign with one), on a Unix socket beside the git
// credential socket. git's ssh on the node (the clone) and in the workspace's container (lifecycle
// commands, the developer's fetch and push) sign in through it, so the private key stays in the
// agent's memory: never in a file on the node, in the container, its image or its home volume.
// The agent adds no identity, removes none, and signs only with the workspace's key.

import { sign } from "node:crypto";
import type { Socket } from "node:net";
import { type SshDeployKey, sshString } from "../../contract/workspace/ssh-key";

const FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;
/** A sign request holds a session hash and a little more; far less than this. */
const MAX_MESSAGE_BYTES = 256 * 1024;

function frame(type: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1);
  head[4] = type;
  return Buffer.concat([head, body]);
}

/** The answer to one message (its type byte and body, without the length). */
export function answer(message: Buffer, key: SshDeployKey): { reply: Buffer; signed: boolean } {
  const type = message[0];
  if (type === REQUEST_IDENTITIES) {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(1);
    return {
      reply: frame(
        IDENTITIES_ANSWER,
        Buffer.concat([n, sshString(key.publicBlob), sshString("berth deploy key")]),
      ),
      signed: false,
    };
  }
  if (type === SIGN_REQUEST) {
    try {
      let at = 1;
      const str = () => {
        const len = message.readUInt32BE(at);
        const v = message.subarray(at + 4, at + 4 + len);
        if (v.length !== len) throw new Error("short");
        at += 4 + len;
        return v;
      };
      const blob = str();
      const data = str();
      if (!blob.equals(key.publicBlob)) return { reply: frame(FAILURE), signed: false };
      const signature = Buffer.concat([
        sshString("ssh-ed25519"),
        sshString(sign(null, data, key.privateKey)),
      ]);
      return { reply: frame(SIGN_RESPONSE, sshString(signature)), signed: true };
    } catch {
      return { reply: frame(FAILURE), signed: false };
    }
  }
  // Adding, removing, locking, extensions (session-bind@openssh.com among them): refused.
  return { reply: frame(FAILURE), signed: false };
}

/** Serves one connection: length-prefixed messages, one answer each. */
export function serveSshAgent(c: Socket, key: () => SshDeployKey, onSign: () => void): void {
  let buf = Buffer.alloc(0);
  c.on("error", () => c.destroy());
  c.on("data", (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > MAX_MESSAGE_BYTES) {
        c.destroy();
        return;
      }
      if (buf.length < 4 + len) return;
      const { reply, signed } = answer(buf.subarray(4, 4 + len), key());
      buf = buf.subarray(4 + len);
      if (signed) onSign();
      c.write(reply);
    }
  });
}
