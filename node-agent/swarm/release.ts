// A verified release whose Compose text is a Swarm stack (contract/swarm/render.ts), applied on a
// manager: its secrets unsealed (the node's key), its registry login in a temporary Docker config
// passed on to the nodes that pull, then applySwarmRelease (re-check, secrets and configs, stack
// deploy, convergence). The outcome is the converger's: applied only when the stack converged;
// otherwise failed, with the failing services and their nodes in the node's words.
import { parse } from "yaml";
import type { ReleasePayload } from "../../contract/payload";
import {
  parseRegistryCredentials,
  REGISTRY_CREDENTIALS_SECRET,
} from "../../contract/release/registry-credentials";
import { parseSwarmExtras, type SwarmExtras } from "../../contract/swarm/render";
import { describeError } from "../../lib/errors";
import type { ApplyOutcome } from "../apply/apply";
import { withDockerConfig } from "../apply/registry-auth";
import type { DockerRunner } from "../docker";
import { applySwarmRelease } from "./apply";

export interface SwarmReleaseDeps {
  docker: DockerRunner;
  unseal: (payload: ReleasePayload) => Record<string, string>;
  /** How long a stack may take to converge. */
  timeoutMs: number;
  pollMs?: number;
  /** Before the deploy: why not to deploy yet, or undefined (apply.ts: beforeDeploy). */
  beforeDeploy?: (payload: ReleasePayload, extras: SwarmExtras) => Promise<string | undefined>;
}

/**
 * The answers of `isSwarmStack` by Compose text: the backup pass asks it of every environment's
 * current release at each poll, and parsing the whole file each time was most of an idle
 * agent's CPU and garbage (docs/benchmarks.md). Bounded: a node keeps a few releases.
 */
const swarmStackAnswers = new Map<string, boolean>();
const SWARM_STACK_ANSWERS_MAX = 32;

/** A release's Compose text is a Swarm stack when its `x-berth` names a stack. */
export function isSwarmStack(composeText: string): boolean {
  const known = swarmStackAnswers.get(composeText);
  if (known !== undefined) return known;
  let answer: boolean;
  try {
    const doc = parse(composeText) as { "x-berth"?: { stack?: unknown } } | null;
    answer = typeof doc?.["x-berth"]?.stack === "string";
  } catch {
    answer = false;
  }
  if (swarmStackAnswers.size >= SWARM_STACK_ANSWERS_MAX)
    swarmStackAnswers.delete(swarmStackAnswers.keys().next().value as string);
  swarmStackAnswers.set(composeText, answer);
  return answer;
}

/** A Swarm stack's `x-berth` (checked), or undefined. */
export function swarmExtrasOf(composeText: string): SwarmExtras | undefined {
  try {
    const doc = parse(composeText) as { "x-berth"?: unknown } | null;
    return parseSwarmExtras(doc?.["x-berth"]);
  } catch {
    return undefined;
  }
}

export async function applySwarmPayload(
  d: SwarmReleaseDeps,
  payload: ReleasePayload,
  file: string,
): Promise<ApplyOutcome> {
  const sequence = payload.sequence;
  try {
    const secrets = d.unseal(payload);
    const creds = secrets[REGISTRY_CREDENTIALS_SECRET];
    const r = await withDockerConfig(
      creds === undefined ? undefined : parseRegistryCredentials(creds),
      (env) =>
        applySwarmRelease(d.docker, {
          file,
          environmentId: payload.environmentId,
          secretValues: secrets,
          timeoutMs: d.timeoutMs,
          ...(d.pollMs !== undefined ? { pollMs: d.pollMs } : {}),
          ...(d.beforeDeploy
            ? { beforeDeploy: (x: SwarmExtras) => d.beforeDeploy?.(payload, x) ?? Promise.resolve(undefined) }
            : {}),
          ...(env.DOCKER_CONFIG ? { dockerConfig: env.DOCKER_CONFIG } : {}),
        }),
    );
    const services = r.state.services.map((s) => ({
      name: s.service,
      state: `${s.running}/${s.desired} running${s.nodes.length > 0 ? ` on ${s.nodes.join(", ")}` : ""}`,
      ...(s.state !== "converged"
        ? { health: `${s.reason ?? s.state}${s.node ? ` (on ${s.node})` : ""}` }
        : {}),
    }));
    if (r.outcome === "applied") return { state: "applied", sequence, services };
    const within = `within ${Math.round(d.timeoutMs / 1000)} s`;
    // Converged but a node's proxy reaches no task (proxy-ready.ts): not what clients see.
    const why =
      r.outcome !== "timed-out"
        ? "failed"
        : r.state.converged
          ? `was not served through every node ${within}`
          : `did not converge ${within}`;
    return {
      state: "failed",
      sequence,
      error: `release ${sequence} ${why} on the swarm: ${r.reason}`,
      services,
    };
  } catch (e) {
    return {
      state: "failed",
      sequence,
      error: `release ${sequence} was not applied on the swarm: ${describeError(e)}`,
      services: [],
    };
  }
}
