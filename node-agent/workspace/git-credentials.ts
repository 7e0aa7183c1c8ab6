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
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import type { Logger } from "../../lib/log";

export interface GitCredential {
  username: string;
  password: string;
}

/** Where the socket's folder is bound in the workspace's container. */
export const CONTAINER_SOCKET_DIR = "/run/berth-git";
export const SOCKET_NAME = "socket";
/** A request is a few short lines; anything longer is not git's client. */
const MAX_REQUEST_BYTES = 16 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;

export interface CredentialScope {
  protocol: "http" | "https";
  /** host[:port], as git sends it. */
  host: string;
}

/** The protocol and host a token is for: those of an http(s) repository URL; undefined otherwise. */
export function credentialScope(repository: string): CredentialScope | undefined {
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

/** `-c` options for a git command on the node: only the agent's helper for the repository. */
export function gitConfigArgs(socketPath: string, scope: CredentialScope): string[] {
  return ["-c", `${urlKey(scope)}.helper=`, "-c", `${urlKey(scope)}.helper=${helper(socketPath)}`];
}

/** The same configuration as environment variables, for the container (and its lifecycle commands). */
export function gitConfigEnv(scope: CredentialScope): Record<string, string> {
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
    if (current) {
      current.scope = scope;
      current.credential = credential;
      return;
    }
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const dir = this.socketDir(id);
    mkdirSync(dir, { recursive: true });
    // Inside the container the folder is the mount point: the remote user must reach the socket.
    chmodSync(dir, 0o755);
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
