// `berth-agent workspace up|build|status|down`: a workspace from this node's channel declaration
// (`workspace up ID`), or one given on the command line (`--repo URL --branch B ...`, for trying
// a repository on a node by hand). Progress is printed phase by phase; `up` waits for the
// background cache push before it exits (say --no-wait not to).
import { readFileSync } from "node:fs";
import * as z from "zod";
import type { ChannelStore } from "../../contract/channel/store";
import { type WorkspaceStatus, workspaceId } from "../../contract/workspace/declaration";
import { branchName } from "../../contract/workspace/spec";
import { createLogger } from "../../lib/log";
import type { AgentConfig } from "../config";
import { loadOrCreateNodeKeys } from "../node-keys";
import { TrustStore } from "../trust/trust-store";
import { type ExecutorOptions, WorkspaceExecutor, type WorkspaceSpec } from "../workspace/executor";
import { askSwitch } from "../workspace/meta-folder";
import { formatStatus, type StatusReporter } from "../workspace/status-recorder";
import { WorkspaceSync } from "../workspace/sync";

export const WORKSPACE_USAGE = `usage: berth-agent workspace up|build|status|switch|down [ID] [options]

  workspace up ID       clone, pull or build, and start the workspace the channel declares as ID
  workspace build ID    the same without starting it (a prebuild: builds and pushes the cache)
  workspace status [ID] each workspace's state, mode and the time each phase took
  workspace switch ID   the daemon moves the tree to the branch it fetched (fast-forward, local work
                        kept) and starts its image, now rather than at the next start
  workspace down ID     remove the workspace's container and its folder

  options of up and build, for a workspace not declared in the channel:
    --repo URL                    the repository to clone (with it, the channel is not read)
    --branch NAME                 the branch (default: main)
    --default-branch NAME         the branch whose cache others start from (default: main)
    --devcontainer-config NAME    .devcontainer/NAME/devcontainer.json instead of the default config
    --namespace HOST/PATH         the registry namespace of the build cache (none: no cache)
    --registry-login FILE         a JSON file {"username", "password"} for the namespace
    --default-image IMAGE         started when the repository has no usable config
    --trusted                     this build may write the cache tags other builds read
    --allow-initialize-command    run the config's initializeCommand on this node
    --no-wait                     return once the workspace runs, without waiting for the cache push`;

export const workspaceOptions = {
  repo: { type: "string" },
  branch: { type: "string" },
  "default-branch": { type: "string" },
  "devcontainer-config": { type: "string" },
  namespace: { type: "string" },
  "registry-login": { type: "string" },
  "default-image": { type: "string" },
  trusted: { type: "boolean" },
  "allow-initialize-command": { type: "boolean" },
  "no-wait": { type: "boolean" },
} as const;

export class WorkspaceUsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

const loginSchema = z.object({ username: z.string().min(1), password: z.string().min(1) }).strict();

function adHocSpec(id: string, v: Values): WorkspaceSpec {
  const str = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);
  const branch = str("branch") ?? "main";
  const defaultBranch = str("default-branch") ?? "main";
  for (const [flag, b] of [
    ["--branch", branch],
    ["--default-branch", defaultBranch],
  ] as const)
    if (!branchName.safeParse(b).success)
      throw new WorkspaceUsageError(`${flag}: ${JSON.stringify(b)} is not a branch name`);
  const repo = str("repo")!;
  const defaultImage = str("default-image");
  if (!defaultImage)
    throw new WorkspaceUsageError(
      "--default-image IMAGE is needed with --repo (started when the repository has no usable config)",
    );
  let login: { username: string; password: string } | undefined;
  const loginFile = str("registry-login");
  if (loginFile) {
    let text: string;
    try {
      text = readFileSync(loginFile, "utf8");
    } catch (e) {
      throw new WorkspaceUsageError(
        `--registry-login: cannot read ${loginFile} (${(e as NodeJS.ErrnoException).code})`,
      );
    }
    const r = loginSchema.safeParse(
      (() => {
        try {
          return JSON.parse(text);
        } catch {
          return undefined;
        }
      })(),
    );
    if (!r.success)
      throw new WorkspaceUsageError(
        `--registry-login: ${loginFile} must hold {"username": "...", "password": "..."}`,
      );
    login = r.data;
  }
  const namespace = str("namespace");
  if (login && !namespace) throw new WorkspaceUsageError("--registry-login needs --namespace");
  const name = repo
    .replace(/\.git$/, "")
    .replace(/\/+$/, "")
    .split(/[/:]/)
    .slice(-2)
    .join("/");
  return {
    id,
    repository: repo,
    repositoryName: name || "workspace",
    branch,
    defaultBranch,
    ...(str("devcontainer-config") ? { config: str("devcontainer-config") } : {}),
    trusted: v.trusted === true,
    allowInitializeCommand: v["allow-initialize-command"] === true,
    defaultImage,
    ...(namespace ? { registry: { namespace, ...(login ? { login } : {}) } } : {}),
  };
}

/** Prints each phase as it starts and ends. */
/** The executor's options from the agent config (the daemon's and this command's). */
export function executorOptions(config: AgentConfig): Omit<ExecutorOptions, "log" | "report"> {
  const w = config.workspaces;
  return {
    stateRoot: config.stateRoot,
    ...(w.devcontainerCli ? { devcontainerCli: w.devcontainerCli } : {}),
    ...(w.dockerHost ? { dockerHost: w.dockerHost } : {}),
    pushTimeoutSeconds: w.pushTimeoutSeconds,
    lookupTimeoutMs: w.lookupTimeoutMs,
    stepTimeoutSeconds: w.stepTimeoutSeconds,
    ...(w.isolatedBuilder ? { isolatedBuilder: w.isolatedBuilder } : {}),
  };
}

function progressPrinter(err: (s: string) => void): StatusReporter {
  let seen = "";
  return (s: WorkspaceStatus) => {
    const line = s.phases.map((p) => `${p.phase}:${p.outcome}`).join(",") + s.state;
    if (line === seen) return;
    seen = line;
    const p = s.phases.at(-1);
    if (p?.outcome === "running") err(`${s.workspaceId}: ${p.phase}...`);
    else if (p)
      err(
        `${s.workspaceId}: ${p.phase} ${p.outcome} (${p.seconds?.toFixed(2)} s)${p.detail && p.outcome !== "ok" ? `: ${p.detail}` : ""}`,
      );
  };
}

export async function workspaceCommand(
  args: { sub: string | undefined; id: string | undefined; values: Values },
  config: AgentConfig,
  channel: () => ChannelStore,
  io: { out: (s: string) => void; err: (s: string) => void },
): Promise<number> {
  const { sub, id, values } = args;
  const log = createLogger("berth-agent");
  const printer = progressPrinter(io.err);
  let channelReporter: StatusReporter | undefined;
  const executor = () =>
    new WorkspaceExecutor({
      ...executorOptions(config),
      log,
      report: async (s) => {
        await printer(s);
        await channelReporter?.(s);
      },
    });
  if (sub === "status") {
    const ex = executor();
    const ids = id ? [id] : ex.list();
    if (values.json === true) {
      io.out(
        JSON.stringify(
          ids.map((i) => ex.status(i) ?? { id: i, state: "absent" }),
          null,
          2,
        ),
      );
      return id && !ex.status(id) ? 1 : 0;
    }
    const rows = ids.map((i) => {
      const s = ex.status(i);
      return s ? formatStatus(s) : `${i}: no such workspace on this node`;
    });
    io.out(rows.length > 0 ? rows.join("\n") : "no workspaces on this node");
    return id && !ex.status(id) ? 1 : 0;
  }
  if (!id || !workspaceId.safeParse(id).success)
    throw new WorkspaceUsageError(
      `workspace ${sub ?? ""} needs a workspace id (lowercase letters, digits, dashes)\n${WORKSPACE_USAGE}`,
    );
  if (sub === "down") {
    await executor().down(id);
    io.out(`${id}: removed`);
    return 0;
  }
  if (sub === "switch") {
    const ex = executor();
    const s = ex.status(id);
    if (!s) throw new WorkspaceUsageError(`no workspace ${id} on this node`);
    if (s.follow?.state !== "ready" && s.follow?.state !== "held") {
      io.err(
        `${id}: nothing to switch to (the branch is ${s.follow ? s.follow.state : "not fetched yet"}${s.follow?.reason ? `: ${s.follow.reason}` : ""})`,
      );
      return 1;
    }
    askSwitch(ex.dir(id));
    io.out(`${id}: the daemon switches to ${s.follow.commit.slice(0, 12)} at its next pass`);
    return 0;
  }
  if (sub !== "up" && sub !== "build")
    throw new WorkspaceUsageError(`unknown workspace command ${JSON.stringify(sub)}\n${WORKSPACE_USAGE}`);
  let spec: WorkspaceSpec;
  if (typeof values.repo === "string") spec = adHocSpec(id, values);
  else {
    const keys = loadOrCreateNodeKeys(config.stateRoot);
    const sync = new WorkspaceSync({
      channel: channel(),
      nodeId: config.nodeId,
      // The keys of the node's accepted trust set (read from its state, not refreshed here).
      trustedKeys: new TrustStore({
        stateRoot: config.stateRoot,
        config,
        channel: channel(),
        log: createLogger("berth-agent"),
      }).keys,
      nodePrivateKey: keys.privateKey,
      stateRoot: config.stateRoot,
      executor: () => executor(),
      log,
    });
    const d = await sync.declaration(id);
    if (!d)
      throw new WorkspaceUsageError(
        `the channel declares no workspace ${id} for node ${config.nodeId} (give --repo URL to bring up one by hand)`,
      );
    channelReporter = sync.reporter();
    spec = sync.spec(d);
  }
  const ex = executor();
  if (sub === "build") {
    const s = await ex.build(spec);
    io.out(formatStatus(s));
    return s.state === "failed" ? 1 : 0;
  }
  const r = await ex.up(spec);
  if (values["no-wait"] !== true && r.status.state === "running") {
    const final = await r.background;
    io.out(formatStatus(final));
  } else io.out(formatStatus(r.status));
  return r.status.state === "running" ? 0 : 1;
}
