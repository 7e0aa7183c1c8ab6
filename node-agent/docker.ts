// The agent's one way to run Docker: the commands of compose/commands.ts through lib/process,
// with the environment each call needs (secret variables for Compose, a Docker config for
// registry credentials) and every secret value redacted from errors.
import { type RunResult, run } from "../lib/process";
import { dockerSocket } from "./access/docker-api";
import type { Command } from "./compose/commands";

export interface DockerCallOptions {
  env?: Record<string, string>;
  redact?: readonly string[];
  timeoutMs?: number;
  allowFailure?: boolean;
  /** Working folder; `/` when absent. */
  cwd?: string;
  /** Stops the command (SIGTERM) when aborted. */
  signal?: AbortSignal;
  /** Written to the command's stdin (a secret's value for `docker secret create NAME -`). */
  input?: string;
}

export type DockerRunner = (cmd: Command, opts?: DockerCallOptions) => Promise<RunResult>;

/** The engine each runner dockerRunner made talks to (its DOCKER_HOST, unset: the default). */
const engines = new WeakMap<DockerRunner, { dockerHost?: string }>();

/**
 * The Unix socket of the engine `runner` runs Docker against, for the calls the agent makes
 * through the Engine API; undefined for a runner of another kind (a test's) or an engine that is
 * not on a Unix socket, where the caller runs the CLI.
 */
export function engineSocket(runner: DockerRunner): string | undefined {
  const e = engines.get(runner);
  if (!e) return undefined;
  try {
    return dockerSocket(e.dockerHost);
  } catch {
    return undefined;
  }
}

/** A runner for the Docker Engine at `dockerHost` (DOCKER_HOST), or the default one. */
export function dockerRunner(base: { dockerHost?: string; dockerConfig?: string } = {}): DockerRunner {
  const runner: DockerRunner = (cmd, opts = {}) =>
    run(cmd.file, cmd.args, {
      // Compose looks for a compose.yaml in the working folder and its parents: start from /.
      cwd: "/",
      env: {
        ...(base.dockerHost ? { DOCKER_HOST: base.dockerHost } : {}),
        ...(base.dockerConfig ? { DOCKER_CONFIG: base.dockerConfig } : {}),
        ...opts.env,
      },
      redact: opts.redact,
      timeoutMs: opts.timeoutMs ?? 600_000,
      allowFailure: opts.allowFailure,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  engines.set(runner, base.dockerHost ? { dockerHost: base.dockerHost } : {});
  return runner;
}

/**
 * A runner for commands that must never see the agent's own environment (a workspace's git,
 * Docker and devcontainer CLI calls, which run a branch's code): PATH and HOME, DOCKER_HOST, and
 * only what each call is given (its own DOCKER_CONFIG among them).
 */
export function isolatedRunner(base: { dockerHost?: string } = {}): DockerRunner {
  return (cmd, opts = {}) =>
    run(cmd.file, cmd.args, {
      isolatedEnv: true,
      cwd: opts.cwd ?? "/",
      env: { ...(base.dockerHost ? { DOCKER_HOST: base.dockerHost } : {}), ...opts.env },
      redact: opts.redact,
      timeoutMs: opts.timeoutMs ?? 600_000,
      allowFailure: opts.allowFailure,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
}
