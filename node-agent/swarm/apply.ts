// A manager's agent applies a verified Swarm release: the stack's secrets and configs first
// (versioned names, so existing ones are kept and only new versions are created; a secret's
// value goes on stdin), then `docker stack deploy`, then it reads the stack through the Engine
// API until it has converged, Swarm gave up on it (rolled back or paused), or the bound runs out.
// Secret and config versions no service uses any more are removed after convergence.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { LABEL } from "../../contract/render/node-compose";
import { stackName } from "../../contract/swarm/names";
import { checkSwarmStack } from "../../contract/swarm/node-check";
import { PROXY_SERVICE } from "../../contract/swarm/proxy";
import { parseSwarmExtras, type SwarmExtras } from "../../contract/swarm/render";
import type { DockerRunner } from "../docker";
import * as cmd from "./commands";
import {
  type ApiNode,
  type ApiService,
  type ApiTask,
  assessStack,
  describeStack,
  parseNodes,
  parseServices,
  parseTasks,
  type StackState,
} from "./convergence";
import { askProxies, describeUnready, proxyTargets } from "./proxy-ready";

export interface SwarmApplyInput {
  /** The rendered stack file on the node (the verified release's Compose text). */
  file: string;
  /** The environment the release is for: the file must be its stack. */
  environmentId: string;
  /** Unsealed values of the berth secrets the stack mounts, by berth secret name. */
  secretValues: Record<string, string>;
  /** How long to wait for convergence. */
  timeoutMs: number;
  pollMs?: number;
  /** Registry logins for the pull: a Docker config folder, passed on with --with-registry-auth. */
  dockerConfig?: string;
  /** How the nodes' proxies are asked for their readiness (tests replace it). */
  askProxies?: typeof askProxies;
  /**
   * Before anything is created or deployed (the stack checked): why it must not be deployed, or
   * undefined. The leader waits here for the holders of the stack's volumes (volumes-ready.ts).
   */
  beforeDeploy?: (extras: SwarmExtras) => Promise<string | undefined>;
}

export interface SwarmApplyResult {
  state: StackState;
  /** "applied" only when converged. */
  outcome: "applied" | "failed" | "timed-out";
  /** The failing services and their nodes, in words (empty when applied). */
  reason: string;
  /** What `docker stack deploy` said it ignored ("Ignoring unsupported options: …"). */
  warnings: string[];
}

const lines = (s: string) =>
  s
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

export class SwarmApplyError extends Error {}

/** How long every node's proxy must have answered ready (two answers at least this far apart). */
const PROXY_READY_HOLD_MS = 1_000;

/** What the Engine API says about a stack: its services, their tasks, the swarm's nodes. */
export interface StackSnapshot {
  services: ApiService[];
  tasks: ApiTask[];
  nodes: ApiNode[];
}

/** Reads the stack's services, tasks and nodes through the Engine API. */
export async function readStack(docker: DockerRunner, extras: SwarmExtras): Promise<StackSnapshot> {
  const ids = lines((await docker(cmd.stackServices(extras.stack))).stdout);
  const services =
    ids.length > 0 ? parseServices(JSON.parse((await docker(cmd.inspect("service", ids))).stdout)) : [];
  const taskIds =
    ids.length > 0 ? lines((await docker(cmd.stackTasks(extras.stack), { allowFailure: true })).stdout) : [];
  // Swarm prunes old tasks while an update runs: one listed a moment ago may be gone. `docker
  // inspect` then prints the others and fails for it; a pruned task is history, not state.
  let tasks: ApiTask[] = [];
  if (taskIds.length > 0) {
    const r = await docker(cmd.inspectObjects(taskIds), { allowFailure: true });
    const gone = lines(r.stderr).every((l) => /\bnot found$|No such object/.test(l));
    if (r.exitCode !== 0 && !gone)
      throw new SwarmApplyError(`docker inspect of the stack's tasks failed: ${r.stderr.trim()}`);
    tasks = r.stdout.trim() ? parseTasks(JSON.parse(r.stdout)) : [];
  }
  const nodeIds = lines((await docker({ file: "docker", args: ["node", "ls", "--quiet"] })).stdout);
  const nodes = parseNodes(JSON.parse((await docker(cmd.inspect("node", nodeIds))).stdout));
  return { services, tasks, nodes };
}

/** The stack assessed from a snapshot (the proxy counted on every node when the release has one). */
export function assessSnapshot(extras: SwarmExtras, s: StackSnapshot): StackState {
  return assessStack({
    stack: extras.stack,
    replicas: extras.replicas,
    // The environment's proxy counts too: a release is applied only once it runs on every node.
    ...(extras.proxy ? { global: [PROXY_SERVICE] } : {}),
    ...s,
  });
}

/** Reads the stack's services, tasks and nodes through the Engine API and assesses them. */
export async function readStackState(docker: DockerRunner, extras: SwarmExtras): Promise<StackState> {
  return assessSnapshot(extras, await readStack(docker, extras));
}

export async function applySwarmRelease(
  docker: DockerRunner,
  input: SwarmApplyInput,
): Promise<SwarmApplyResult> {
  // The node re-checks what it deploys, whoever signed it (contract/swarm/node-check.ts).
  const doc: unknown = parse(await readFile(input.file, "utf8"));
  const problems = checkSwarmStack(doc, input.environmentId);
  const extras = parseSwarmExtras((doc as Record<string, unknown>)["x-berth"]);
  if (!extras) problems.push("x-berth: not the extras of a Swarm stack");
  else if (extras.environmentId !== input.environmentId || extras.stack !== stackName(input.environmentId))
    problems.push(`x-berth: the stack of ${extras.environmentId}, not of ${input.environmentId}`);
  if (problems.length > 0 || !extras)
    throw new SwarmApplyError(
      `NODE_RULES: this node does not deploy what the release asks for: ${problems.join("; ")}`,
    );
  const held = await input.beforeDeploy?.(extras);
  if (held !== undefined) throw new SwarmApplyError(held);
  const labels = { [LABEL.environment]: extras.environmentId };
  const label = `${LABEL.environment}=${extras.environmentId}`;
  const values = Object.values(input.secretValues);
  const existing = {
    secret: new Set(lines((await docker(cmd.listObjects("secret", label))).stdout)),
    config: new Set(lines((await docker(cmd.listObjects("config", label))).stdout)),
  };
  for (const s of extras.secrets) {
    if (existing.secret.has(s.name)) continue;
    const value = input.secretValues[s.secret];
    if (value === undefined)
      throw new SwarmApplyError(
        `secret ${s.secret} was not in the release (the stack mounts it as ${s.name})`,
      );
    await docker(cmd.createSecret(s.name, labels), { input: value, redact: values });
  }
  for (const c of extras.configs) {
    if (existing.config.has(c.name)) continue;
    await docker(cmd.createConfig(c.name, labels), { input: c.content });
  }
  const deployed = await docker(cmd.stackDeploy(input.file, extras.stack), {
    redact: values,
    ...(input.dockerConfig ? { env: { DOCKER_CONFIG: input.dockerConfig } } : {}),
  });
  // Fields Swarm ignores are a renderer bug worth seeing in the status, never silent.
  const warnings = lines(`${deployed.stdout}\n${deployed.stderr}`).filter((l) => /^Ignoring /.test(l));
  const deadline = Date.now() + input.timeoutMs;
  let state: StackState;
  // Converged, and (with a proxy) every node's proxy answered ready: what clients see through any
  // node. Ready twice, at least PROXY_READY_HOLD_MS apart: a proxy that just started counts its
  // tasks up until its first health check (500 ms) says otherwise.
  let unready = "";
  let readySince: number | undefined;
  for (;;) {
    const snapshot = await readStack(docker, extras);
    state = assessSnapshot(extras, snapshot);
    if (state.converged && extras.proxy) {
      const port = extras.proxy.port;
      unready = describeUnready(
        await (input.askProxies ?? askProxies)(proxyTargets({ stack: extras.stack, ...snapshot }), port),
        port,
      );
      if (unready) readySince = undefined;
      else {
        readySince ??= Date.now();
        if (Date.now() - readySince >= PROXY_READY_HOLD_MS) break;
      }
    } else if (state.converged) break;
    else readySince = undefined;
    // A failed update is reported once Swarm has finished rolling it back (or paused it).
    if ((state.failed && state.settled) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, input.pollMs ?? 1000));
  }
  if (state.converged && unready) return { state, outcome: "timed-out", reason: unready, warnings };
  if (state.converged) {
    // Versions no service mounts any more: Docker refuses to remove one still in use, so try each.
    const keep = {
      secret: new Set(extras.secrets.map((s) => s.name)),
      config: new Set(extras.configs.map((c) => c.name)),
    };
    for (const kind of ["secret", "config"] as const) {
      const stale = [...existing[kind]].filter((n) => !keep[kind].has(n));
      for (const name of stale) await docker(cmd.removeObjects(kind, [name]), { allowFailure: true });
    }
    return { state, outcome: "applied", reason: "", warnings };
  }
  return { state, outcome: state.failed ? "failed" : "timed-out", reason: describeStack(state), warnings };
}
