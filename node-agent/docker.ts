// The agent's one way to run Docker: the commands of compose/commands.ts through lib/process,
// with the environment each call needs (secret variables for Compose, a Docker config for
// registry credentials) and every secret value redacted from errors.
import { type RunResult, run } from "../lib/process";
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

/** A runner for the Docker Engine at `dockerHost` (DOCKER_HOST), or the default one. */
export function dockerRunner(base: { dockerHost?: string; dockerConfig?: string } = {}): DockerRunner {
  return (cmd, opts = {}) =>
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
