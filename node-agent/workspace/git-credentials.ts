// A private repository's credential (a token) for one workspace. Git asks the agent for it, on
// the node (the clone) and inside the workspace's container (lifecycle commands, the developer's
// fetch and push), through git's own credential-cache client: `git credential-cache --socket P
// get` writes `action=get`, `timeout=N` and the credential's fields to a Unix socket and prints
// what comes back. The agent answers on a socket of its own per workspace, bound read-only into
// the container at /run/berth-git, so nothing in the container needs more than git, and the token
// is never in a file: not in the clone's .git/config, the image, the home volume or the node's
// disk. It answers only a `get` for the repository's own protocol and host.
//
// Git finds the helper through configuration given outside every file: `-c` options for the
// clone, GIT_CONFIG_COUNT/KEY/VALUE in the container's environment (git ≥ 2.31). The helper list
// is cleared for the repository's URL first, so a helper of the image or the home (`store`)
// never receives the token to keep.
//
// A deploy key (an SSH repository) takes the same folder: the agent serves the key as an
// ssh-agent on `ssh-agent` beside the socket (ssh-agent.ts; the key never reaches a file), and
// git's ssh is pointed at it by `core.sshCommand = ssh -F <folder>/…ssh_config`, with the host's
// key in `known_hosts` there: the declared lines (StrictHostKeyChecking yes), or, when none are
// declared, the key the node's first clone saw (accept-new: pinned then, refused if it changes).
// The container's ssh checks strictly against that file and keeps the user's own ssh config for
// every other host.
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import {
  knownHostsLines,
  parseSshDeployKey,
  type SshDeployKey,
  sshRepository,
} from "../../contract/workspace/ssh-key";
import type { Logger } from "../../lib/log";
import { serveSshAgent } from "./ssh-agent";

/** A token (HTTPS), or a deploy key (SSH) with the host's declared known_hosts lines. */
export type GitCredential = TokenCredential | SshKeyCredential;
export interface TokenCredential {
  username: string;
  password: string;
}
export interface SshKeyCredential {
  /** The private key, OpenSSH's format (contract/workspace/ssh-key.ts). */
  sshKey: string;
  knownHosts?: string;
}
export const isSshKey = (c: GitCredential): c is SshKeyCredential => "sshKey" in c;

/** Where the socket's folder is bound in the workspace's container. */
export const CONTAINER_SOCKET_DIR = "/run/berth-git";
export const SOCKET_NAME = "socket";
/** A request is a few short lines; anything longer is not git's client. */
const MAX_REQUEST_BYTES = 16 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;

export type CredentialScope =
  | {
      protocol: "http" | "https";
      /** host[:port], as git sends it. */
      host: string;
    }
  | { protocol: "ssh"; host: string };

/** The protocol and host a credential is for: those of an http(s) or SSH repository URL; undefined otherwise. */
export function credentialScope(repository: string): CredentialScope | undefined {
  const ssh = sshRepository(repository);
  if (ssh) return { protocol: "ssh", host: ssh.host };
  let u: URL;
  try {
    u = new URL(repository);
  } catch {
    return undefined;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return undefined;
  return { protocol: u.protocol === "https:" ? "https" : "http", host: u.host };
}

/** The `credential.<url>` prefix git matches the repository's requests against. */
const urlKey = (s: CredentialScope) => `credential.${s.protocol}://${s.host}`;

/** The helper's command as git runs it (`git credential-` + this). */
const helper = (socketPath: string) => `cache --socket ${socketPath}`;

export const SSH_AGENT_NAME = "ssh-agent";
export const KNOWN_HOSTS_NAME = "known_hosts";
/** ssh's configuration for git on the node, and in the container. */
export const NODE_SSH_CONFIG_NAME = "node_ssh_config";
export const SSH_CONFIG_NAME = "ssh_config";

const quote = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;

/**
 * ssh's configuration on the node: only the agent's key (none of the node's own keys or config),
 * the workspace's known_hosts, checked strictly when declared, pinned at first sight otherwise.
 */
export function nodeSshConfig(dir: string, declared: boolean): string {
  return [
    "Host *",
    `  IdentityAgent ${quote(join(dir, SSH_AGENT_NAME))}`,
    "  IdentityFile none",
    "  IdentitiesOnly no",
    `  UserKnownHostsFile ${quote(join(dir, KNOWN_HOSTS_NAME))}`,
    "  GlobalKnownHostsFile /dev/null",
    `  StrictHostKeyChecking ${declared ? "yes" : "accept-new"}`,
    "  BatchMode yes",
    "  ForwardAgent no",
    "",
  ].join("\n");
}

/** ssh's configuration in the container: the agent's key and host key for the repository's host; the user's own config for the rest. */
export function containerSshConfig(host: string): string {
  return [
    `Host ${host}`,
    `  IdentityAgent ${CONTAINER_SOCKET_DIR}/${SSH_AGENT_NAME}`,
    `  UserKnownHostsFile ${CONTAINER_SOCKET_DIR}/${KNOWN_HOSTS_NAME}`,
    "  StrictHostKeyChecking yes",
    "Host *",
    "  Include ~/.ssh/config /etc/ssh/ssh_config",
    "",
  ].join("\n");
}

/** `-c` options for a git command on the node: only the agent's helper (or key) for the repository. */
export function gitConfigArgs(socketPath: string, scope: CredentialScope): string[] {
  if (scope.protocol === "ssh")
    return ["-c", `core.sshCommand=ssh -F ${quote(join(socketPath, "..", NODE_SSH_CONFIG_NAME))}`];
  return ["-c", `${urlKey(scope)}.helper=`, "-c", `${urlKey(scope)}.helper=${helper(socketPath)}`];
}

/** The same configuration as environment variables, for the container (and its lifecycle commands). */
export function gitConfigEnv(scope: CredentialScope): Record<string, string> {
  if (scope.protocol === "ssh")
    return {
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "core.sshCommand",
      GIT_CONFIG_VALUE_0: `ssh -F ${CONTAINER_SOCKET_DIR}/${SSH_CONFIG_NAME}`,
    };
  return {
    GIT_CONFIG_COUNT: "2",
    GIT_CONFIG_KEY_0: `${urlKey(scope)}.helper`,
    GIT_CONFIG_VALUE_0: "",
    GIT_CONFIG_KEY_1: `${urlKey(scope)}.helper`,
    GIT_CONFIG_VALUE_1: helper(`${CONTAINER_SOCKET_DIR}/${SOCKET_NAME}`),
  };
}

/** The start config (devcontainer override) with the socket's folder bound read-only and git's configuration. */
export function withGitCredentials(
  startConfig: Record<string, unknown>,
  socketDir: string,
  scope: CredentialScope,
): Record<string, unknown> {
  const mounts = Array.isArray(startConfig.mounts) ? startConfig.mounts : [];
  const env =
    startConfig.containerEnv && typeof startConfig.containerEnv === "object"
      ? (startConfig.containerEnv as Record<string, string>)
      : {};
  return {
    ...startConfig,
    mounts: [...mounts, `source=${socketDir},target=${CONTAINER_SOCKET_DIR},type=bind,readonly`],
    containerEnv: { ...env, ...gitConfigEnv(scope) },
  };
}

/** A credential-cache request: its action and the credential's fields. */
export function parseRequest(text: string): { action: string; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  let action = "";
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    if (k === "action") action = v;
    else if (!(k in fields)) fields[k] = v;
  }
  return { action, fields };
}

/** What the agent answers: the credential for a `get` of the repository's protocol and host, else nothing. */
export function replyTo(request: string, scope: CredentialScope, credential: GitCredential): string {
  if (isSshKey(credential)) return "";
  const { action, fields } = parseRequest(request);
  if (action !== "get") return "";
  if (fields.protocol !== scope.protocol || fields.host !== scope.host) return "";
  if (fields.username !== undefined && fields.username !== credential.username) return "";
  // A value with a newline would end the reply's line; the schema's strings may hold one.
  if (/[\n\0]/.test(credential.username + credential.password)) return "";
  return `username=${credential.username}\npassword=${credential.password}\n`;
}

/** Why a clone failed, with what to do when the repository asked for credentials. */
export function explainCloneFailure(message: string, hasCredential: boolean): string | undefined {
  if (
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/.test(
      message,
    )
  )
    return "the repository's SSH host key is not the one declared or pinned: check the host, then its key (berth:workspaces[].gitCredential.knownHosts, as ssh-keyscan prints it)";
  if (/Permission denied \(publickey/.test(message))
    return hasCredential
      ? "the repository refused the workspace's deploy key: add its public key to the repository's deploy keys"
      : "the repository needs a deploy key: declare one as the workspace's gitCredential (berth:workspaces[].gitCredential.deployKey, a name in berth:secrets)";
  if (
    !/could not read (Username|Password)|Authentication failed|terminal prompts disabled|401|403/.test(
      message,
    )
  )
    return undefined;
  return hasCredential
    ? "the repository refused the workspace's git credential: check the token (berth:secrets) and its access to the repository"
    : "the repository needs credentials: declare a token as the workspace's gitCredential (berth:workspaces[].gitCredential.secret, a name in berth:secrets)";
}

interface Served {
  server: Server;
  scope: CredentialScope;
  credential: GitCredential;
  /** The deploy key as the ssh-agent serves it. */
  sshKey?: SshDeployKey;
}

/** One socket per workspace with a credential, under <root>/<workspace>/socket. */
export class GitCredentialServers {
  private readonly served = new Map<string, Served>();

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  socketDir(id: string): string {
    return join(this.root, id);
  }

  socketPath(id: string): string {
    return join(this.socketDir(id), SOCKET_NAME);
  }

  has(id: string): boolean {
    return this.served.has(id);
  }

  /** Serves (or keeps serving, with this credential) the workspace's socket. */
  async serve(id: string, scope: CredentialScope, credential: GitCredential): Promise<void> {
    const current = this.served.get(id);
    if (current && isSshKey(current.credential) === isSshKey(credential)) {
      current.scope = scope;
      current.credential = credential;
      if (isSshKey(credential)) {
        current.sshKey = parseSshDeployKey(credential.sshKey);
        this.writeSshFiles(id, scope, credential);
      }
      return;
    }
    if (current) await this.close(id);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const dir = this.socketDir(id);
    mkdirSync(dir, { recursive: true });
    // Inside the container the folder is the mount point: the remote user must reach the socket.
    chmodSync(dir, 0o755);
    if (isSshKey(credential)) return this.serveSsh(id, scope, credential);
    rmSync(this.socketPath(id), { force: true });
    const entry: Served = { server: createServer(), scope, credential };
    entry.server.on("connection", (c) => {
      let text = "";
      c.setTimeout(REQUEST_TIMEOUT_MS, () => c.destroy());
      c.on("error", () => c.destroy());
      c.on("data", (b: Buffer) => {
        text += b.toString("utf8");
        if (text.length > MAX_REQUEST_BYTES) c.destroy();
      });
      c.on("end", () => {
        const reply = replyTo(text, entry.scope, entry.credential);
        const { action, fields } = parseRequest(text);
        if (action === "get")
          this.log.info(
            { workspace: id, host: fields.host, given: reply !== "" },
            "git asked for the workspace's credential",
          );
        c.end(reply);
      });
    });
    await new Promise<void>((resolve, reject) => {
      entry.server.once("error", reject);
      entry.server.listen(this.socketPath(id), () => {
        entry.server.off("error", reject);
        resolve();
      });
    });
    chmodSync(this.socketPath(id), 0o666);
    this.served.set(id, entry);
  }

  /** The deploy key as an ssh-agent, and ssh's files: known_hosts and the two configs. */
  private async serveSsh(id: string, scope: CredentialScope, credential: SshKeyCredential): Promise<void> {
    const path = join(this.socketDir(id), SSH_AGENT_NAME);
    rmSync(path, { force: true });
    const entry: Served = {
      server: createServer(),
      scope,
      credential,
      sshKey: parseSshDeployKey(credential.sshKey),
    };
    entry.server.on("connection", (c) =>
      serveSshAgent(
        c,
        () => entry.sshKey as SshDeployKey,
        () =>
          this.log.info(
            { workspace: id, host: entry.scope.host },
            "git's ssh signed in with the workspace's deploy key",
          ),
      ),
    );
    await new Promise<void>((resolve, reject) => {
      entry.server.once("error", reject);
      entry.server.listen(path, () => {
        entry.server.off("error", reject);
        resolve();
      });
    });
    chmodSync(path, 0o666);
    this.writeSshFiles(id, scope, credential);
    this.served.set(id, entry);
  }

  private writeSshFiles(id: string, scope: CredentialScope, credential: SshKeyCredential): void {
    const dir = this.socketDir(id);
    const declared = credential.knownHosts !== undefined;
    const knownHosts = join(dir, KNOWN_HOSTS_NAME);
    // Declared lines replace the file; otherwise the file keeps what the first clone pinned.
    if (declared)
      writeFileSync(knownHosts, `${knownHostsLines(credential.knownHosts ?? "").join("\n")}\n`, {
        mode: 0o644,
      });
    else if (!existsSync(knownHosts)) writeFileSync(knownHosts, "", { mode: 0o644 });
    chmodSync(knownHosts, 0o644);
    writeFileSync(join(dir, NODE_SSH_CONFIG_NAME), nodeSshConfig(dir, declared), { mode: 0o644 });
    writeFileSync(join(dir, SSH_CONFIG_NAME), containerSshConfig(scope.host), { mode: 0o644 });
  }

  async close(id: string): Promise<void> {
    const s = this.served.get(id);
    this.served.delete(id);
    if (s) await new Promise<void>((r) => s.server.close(() => r()));
    rmSync(this.socketDir(id), { recursive: true, force: true });
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.served.keys()].map((id) => this.close(id)));
  }
}
