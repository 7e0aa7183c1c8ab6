import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
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
  it("is the protocol and host of an http(s) URL, nothing for ssh, scp-like or a path", () => {
    expect(credentialScope("https://git.example.com:8443/acme/app.git")).toEqual(scope);
    expect(credentialScope("http://172.17.0.1:3000/r.git")).toEqual({
      protocol: "http",
      host: "172.17.0.1:3000",
    });
    expect(credentialScope("ssh://git@example.com/acme/app.git")).toBeUndefined();
    expect(credentialScope("git@example.com:acme/app.git")).toBeUndefined();
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
