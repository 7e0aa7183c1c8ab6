// A private git host over SSH for tests: OpenSSH's sshd (Debian's openssh-server, installed by
// scripts/setup/packages.sh) on a port of its own, with its own host key, that lets in only the
// deploy key it is given, and only to git-shell (git-upload-pack and git-receive-pack of the
// repositories under `root`). It logs to a file; `logins()` reads from it the address and key of
// every accepted sign-in.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { run } from "../../../lib/process";

export interface GitSshServer {
  /** ssh://root@host:port — add the repository's absolute path. */
  url: string;
  /** The host's key as known_hosts holds it: `[host]:port ssh-ed25519 AAAA…`. */
  knownHostsLine: string;
  /** Accepted sign-ins: the client's address and the key's fingerprint. */
  logins(): { from: string; fingerprint: string }[];
  close(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startGitSshServer(o: {
  dir: string;
  host: string;
  deployPublicKey: string;
}): Promise<GitSshServer> {
  mkdirSync(o.dir, { recursive: true });
  const hostKey = join(o.dir, "host_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test-git-host", "-f", hostKey]);
  // sshd's privilege separation folder (Debian's service makes it at start).
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  writeFileSync(
    join(o.dir, "authorized_keys"),
    `command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict ${o.deployPublicKey.trim()}\n`,
    { mode: 0o600 },
  );
  const port = await freePort(o.host);
  const config = join(o.dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${o.host}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(o.dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(o.dir, "authorized_keys")}`,
      "StrictModes no",
      "PermitRootLogin forced-commands-only",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  const logFile = join(o.dir, "sshd.log");
  writeFileSync(logFile, "");
  const sshd: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  sshd.stderr?.on("data", (b: Buffer) => writeFileSync(logFile, b, { flag: "a" }));
  // Ready when it accepts a connection.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await run("ssh-keyscan", ["-p", String(port), "-t", "ed25519", o.host], {
      allowFailure: true,
      timeoutMs: 5_000,
    });
    if (ok.stdout.includes("ssh-ed25519")) break;
    if (Date.now() > deadline || sshd.exitCode !== null)
      throw new Error(`sshd did not start:\n${readFileSync(logFile, "utf8")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const pub = readFileSync(`${hostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  return {
    url: `ssh://root@${o.host}:${port}`,
    knownHostsLine: `[${o.host}]:${port} ${pub}`,
    logins: () =>
      [
        ...readFileSync(logFile, "utf8").matchAll(
          /Accepted publickey for root from (\S+) port \d+ ssh2: \S+ (\S+)/g,
        ),
      ].map((m) => ({ from: m[1] as string, fingerprint: m[2] as string })),
    close: async () => {
      sshd.kill("SIGTERM");
      await new Promise((r) => (sshd.exitCode !== null ? r(undefined) : sshd.once("exit", r)));
    },
  };
}
