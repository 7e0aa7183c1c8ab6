import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { knownHostsLines, parseSshDeployKey, SshKeyError, sshRepository } from "./ssh-key";

const root = mkdtempSync(join(tmpdir(), "berth-sshkey-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const keygen = (name: string, ...args: string[]) => {
  // Bounded: a synchronous wait blocks the worker's thread, where vitest's timeout cannot fire.
  execFileSync("ssh-keygen", ["-q", "-f", join(root, name), "-C", "c", ...args], { timeout: 30_000 });
  return readFileSync(join(root, name), "utf8");
};

describe("parseSshDeployKey", () => {
  it("reads an Ed25519 key from ssh-keygen, with the public line ssh-keygen wrote", () => {
    const k = parseSshDeployKey(keygen("ed", "-t", "ed25519", "-N", ""));
    expect(`${k.publicLine} c\n`).toBe(readFileSync(join(root, "ed.pub"), "utf8"));
    expect(k.privateKey.asymmetricKeyType).toBe("ed25519");
  });

  it("refuses, without quoting the key, an encrypted key, an RSA key and text that is no key", () => {
    const encrypted = keygen("enc", "-t", "ed25519", "-N", "passphrase");
    const rsa = keygen("rsa", "-t", "rsa", "-b", "2048", "-N", "");
    for (const [text, why] of [
      [encrypted, /encrypted with a passphrase/],
      [rsa, /ssh-rsa; the agent signs only with ssh-ed25519/],
      ["ghp_token", /not a private key in OpenSSH's format/],
    ] as const) {
      let e: unknown;
      try {
        parseSshDeployKey(text);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(SshKeyError);
      expect((e as Error).message).toMatch(why);
      expect((e as Error).message).not.toContain(text.split("\n")[1] ?? text);
    }
  });
});

describe("sshRepository", () => {
  it("reads ssh:// and scp-like URLs, nothing else", () => {
    expect(sshRepository("ssh://git@172.17.0.1:2222/srv/r.git")).toEqual({
      user: "git",
      host: "172.17.0.1",
      port: 2222,
    });
    expect(sshRepository("git@github.com:acme/app.git")).toEqual({ user: "git", host: "github.com" });
    expect(sshRepository("https://github.com/acme/app.git")).toBeUndefined();
    expect(sshRepository("/srv/r.git")).toBeUndefined();
  });
});

describe("knownHostsLines", () => {
  it("keeps host key lines, drops comments, refuses anything else with its line", () => {
    expect(knownHostsLines("# c\n[h]:2222 ssh-ed25519 AAAA\n\n")).toEqual(["[h]:2222 ssh-ed25519 AAAA"]);
    expect(() => knownHostsLines("h ssh-ed25519 AAAA\nnot a line")).toThrow(/line 2/);
  });
});
