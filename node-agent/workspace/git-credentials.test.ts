import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import {
  credentialScope,
  explainCloneFailure,
  GitCredentialServers,
  gitConfigArgs,
  gitConfigEnv,
  replyTo,
  withGitCredentials,
} from "./git-credentials";

const cred = { username: "x-access-token", password: "tok-123" };
const scope = { protocol: "https" as const, host: "git.example.com:8443" };
const get = (fields: string) => `action=get\ntimeout=900\n${fields}\n`;

describe("credentialScope", () => {
  it("is the protocol and host of an http(s) or SSH URL (scp-like too), nothing for a path", () => {
    expect(credentialScope("https://git.example.com:8443/acme/app.git")).toEqual(scope);
    expect(credentialScope("http://172.17.0.1:3000/r.git")).toEqual({
      protocol: "http",
      host: "172.17.0.1:3000",
    });
    expect(credentialScope("ssh://git@example.com:2222/acme/app.git")).toEqual({
      protocol: "ssh",
      host: "example.com",
    });
    expect(credentialScope("git@example.com:acme/app.git")).toEqual({ protocol: "ssh", host: "example.com" });
    expect(credentialScope("/srv/repo")).toBeUndefined();
  });
});

describe("replyTo", () => {
  it("gives the credential for a get of the repository's protocol and host", () => {
    expect(replyTo(get("protocol=https\nhost=git.example.com:8443\npath=acme/app.git"), scope, cred)).toBe(
      "username=x-access-token\npassword=tok-123\n",
    );
  });

  it("gives nothing to another host, another protocol, another user, or for store and erase", () => {
    expect(replyTo(get("protocol=https\nhost=evil.example.com"), scope, cred)).toBe("");
    expect(replyTo(get("protocol=http\nhost=git.example.com:8443"), scope, cred)).toBe("");
    expect(replyTo(get("protocol=https\nhost=git.example.com:8443\nusername=alice"), scope, cred)).toBe("");
    expect(
      replyTo("action=store\ntimeout=900\nprotocol=https\nhost=git.example.com:8443\n\n", scope, cred),
    ).toBe("");
    expect(replyTo("action=erase\nprotocol=https\nhost=git.example.com:8443\n\n", scope, cred)).toBe("");
  });

  it("keeps the first value of a repeated field (a later host= cannot widen the scope)", () => {
    expect(
      replyTo(get("protocol=https\nhost=evil.example.com\nhost=git.example.com:8443"), scope, cred),
    ).toBe("");
  });

  it("never answers with a value that would break the line protocol", () => {
    expect(
      replyTo(get("protocol=https\nhost=git.example.com:8443"), scope, { ...cred, password: "a\nb" }),
    ).toBe("");
  });
});

describe("git configuration", () => {
  it("clears the repository's helpers, then names the agent's socket, on the command line and in the environment", () => {
    expect(gitConfigArgs("/s/sock", scope)).toEqual([
      "-c",
      "credential.https://git.example.com:8443.helper=",
      "-c",
      "credential.https://git.example.com:8443.helper=cache --socket /s/sock",
    ]);
    expect(gitConfigEnv(scope)).toMatchObject({
      GIT_CONFIG_COUNT: "2",
      GIT_CONFIG_VALUE_0: "",
      GIT_CONFIG_VALUE_1: "cache --socket /run/berth-git/socket",
    });
  });

  it("binds the socket's folder read-only into the container, other mounts and env kept", () => {
    const c = withGitCredentials(
      { image: "i", mounts: ["source=v,target=/home/dev,type=volume"], containerEnv: { A: "1" } },
      "/state/git-credentials/ws",
      scope,
    );
    expect(c.mounts).toEqual([
      "source=v,target=/home/dev,type=volume",
      "source=/state/git-credentials/ws,target=/run/berth-git,type=bind,readonly",
    ]);
    expect(c.containerEnv).toMatchObject({ A: "1", GIT_CONFIG_COUNT: "2" });
    expect(JSON.stringify(c)).not.toContain("tok-123");
  });

  it("explains a clone refused for want of credentials", () => {
    const msg = "fatal: could not read Username for 'http://h': terminal prompts disabled";
    expect(explainCloneFailure(msg, false)).toMatch(/gitCredential/);
    expect(explainCloneFailure(msg, true)).toMatch(/refused the workspace's git credential/);
    expect(explainCloneFailure("fatal: Remote branch nope not found", false)).toBeUndefined();
  });
});

describe("GitCredentialServers (git's own credential-cache client against the socket)", () => {
  let root = "";
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("answers git credential-cache get for the repository only, and closes", async () => {
    root = mkdtempSync(join(tmpdir(), "berth-gitcred-"));
    const servers = new GitCredentialServers(join(root, "g"), createLogger("git-credentials-test"));
    await servers.serve("ws", scope, cred);
    expect(statSync(servers.socketPath("ws")).mode & 0o777).toBe(0o666);
    // The server runs on this event loop: git's client runs as a child process beside it.
    const ask = (input: string) =>
      new Promise<string>((resolve) => {
        const p = spawn("git", ["credential-cache", "--socket", servers.socketPath("ws"), "get"]);
        let out = "";
        p.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        p.on("close", () => resolve(out));
        p.stdin.end(input);
      });
    expect(await ask("protocol=https\nhost=git.example.com:8443\n\n")).toBe(
      "username=x-access-token\npassword=tok-123\n",
    );
    expect(await ask("protocol=https\nhost=other.example.com\n\n")).toBe("");
    await servers.serve("ws", scope, { ...cred, password: "tok-456" });
    expect(await ask("protocol=https\nhost=git.example.com:8443\n\n")).toContain("password=tok-456");
    await servers.close("ws");
    expect(servers.has("ws")).toBe(false);
  });
});

/** OpenSSH's own tools, run beside the server (it lives on this event loop). */
const tool = (file: string, args: string[], env: Record<string, string> = {}, input = "") =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(file, args, { env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    p.on("close", (code) => resolve({ code, out, err }));
    // A tool that reads no input may be gone before it is written.
    p.stdin.on("error", () => {});
    p.stdin.end(input);
  });

describe("a deploy key served as an ssh-agent (OpenSSH's ssh-add and ssh-keygen against the socket)", () => {
  let root = "";
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("lists the one key, signs with it (the signature verifies), and refuses to add or remove keys", async () => {
    root = mkdtempSync(join(tmpdir(), "berth-sshagent-"));
    const keyFile = join(root, "id");
    await tool("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", keyFile]);
    const sshKey = readFileSync(keyFile, "utf8");
    const publicLine = readFileSync(`${keyFile}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const servers = new GitCredentialServers(join(root, "g"), createLogger("git-credentials-test"));
    const sshScope = { protocol: "ssh" as const, host: "git.example.com" };
    await servers.serve("ws", sshScope, {
      sshKey,
      knownHosts: "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
    });
    const dir = servers.socketDir("ws");
    const agent = { SSH_AUTH_SOCK: join(dir, "ssh-agent") };
    expect(statSync(join(dir, "ssh-agent")).mode & 0o777).toBe(0o666);

    const listed = await tool("ssh-add", ["-L"], agent);
    expect(listed.out.trim().split(" ").slice(0, 2).join(" ")).toBe(publicLine);
    // A signature made through the agent (-f names only the public key) verifies.
    const message = "a message\n";
    writeFileSync(join(root, "m"), message);
    const signed = await tool(
      "ssh-keygen",
      ["-Y", "sign", "-n", "git", "-f", `${keyFile}.pub`, join(root, "m")],
      agent,
    );
    expect(signed.code, signed.err).toBe(0);
    writeFileSync(join(root, "allowed"), `deploy ${publicLine}\n`);
    const verified = await tool(
      "ssh-keygen",
      ["-Y", "verify", "-f", join(root, "allowed"), "-I", "deploy", "-n", "git", "-s", join(root, "m.sig")],
      {},
      message,
    );
    expect(verified.code, verified.err).toBe(0);
    // Another key cannot be added, nor the served one removed.
    await tool("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, "other")]);
    expect((await tool("ssh-add", [join(root, "other")], agent)).code).not.toBe(0);
    expect((await tool("ssh-add", ["-D"], agent)).code).not.toBe(0);
    expect((await tool("ssh-add", ["-L"], agent)).out.split("\n").filter(Boolean)).toHaveLength(1);

    // ssh's files: declared known_hosts, strict on the node; the container's config for the host.
    expect(readFileSync(join(dir, "known_hosts"), "utf8")).toBe(
      "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n",
    );
    expect(readFileSync(join(dir, "node_ssh_config"), "utf8")).toMatch(/StrictHostKeyChecking yes/);
    expect(readFileSync(join(dir, "ssh_config"), "utf8")).toMatch(
      /^Host git\.example\.com\n {2}IdentityAgent \/run\/berth-git\/ssh-agent\n/,
    );
    // No file under the folder holds the private key.
    for (const f of ["known_hosts", "node_ssh_config", "ssh_config"])
      expect(readFileSync(join(dir, f), "utf8")).not.toContain(sshKey.split("\n")[1]);
    await servers.close("ws");
  });

  it("pins the host key at first sight when none is declared (accept-new on the node)", async () => {
    root = mkdtempSync(join(tmpdir(), "berth-sshagent-"));
    const keyFile = join(root, "id");
    await tool("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
    const servers = new GitCredentialServers(join(root, "g"), createLogger("git-credentials-test"));
    await servers.serve("ws", { protocol: "ssh", host: "h" }, { sshKey: readFileSync(keyFile, "utf8") });
    const dir = servers.socketDir("ws");
    expect(readFileSync(join(dir, "node_ssh_config"), "utf8")).toMatch(/StrictHostKeyChecking accept-new/);
    expect(readFileSync(join(dir, "ssh_config"), "utf8")).toMatch(/StrictHostKeyChecking yes/);
    expect(gitConfigArgs(servers.socketPath("ws"), { protocol: "ssh", host: "h" })).toEqual([
      "-c",
      `core.sshCommand=ssh -F '${join(dir, "node_ssh_config")}'`,
    ]);
    expect(gitConfigEnv({ protocol: "ssh", host: "h" })).toEqual({
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "core.sshCommand",
      GIT_CONFIG_VALUE_0: "ssh -F /run/berth-git/ssh_config",
    });
    await servers.close("ws");
  });

  it("explains an SSH clone's failures", () => {
    expect(explainCloneFailure("Host key verification failed.\nfatal: Could not read", true)).toMatch(
      /host key is not the one declared or pinned/,
    );
    expect(explainCloneFailure("git@h: Permission denied (publickey).", false)).toMatch(/deployKey/);
    expect(explainCloneFailure("git@h: Permission denied (publickey).", true)).toMatch(
      /refused the workspace's deploy key/,
    );
  });
});
