// The Docker commands of app access (logs, exec), built as data like compose/commands.ts.
import type { Command } from "../compose/commands";

export interface AppContainer {
  id: string;
  service: string;
  release: string;
  /** Compose's replica number (1, 2, ...). */
  replica: string;
  state: string;
  createdAt: string;
}

/** An environment's containers (one service's, or all), running or not. */
export function listAppContainers(environmentId: string, service?: string): Command {
  return {
    file: "docker",
    args: [
      "ps",
      "--all",
      "--no-trunc",
      "--filter",
      `label=berth.environment=${environmentId}`,
      ...(service ? ["--filter", `label=berth.service=${service}`] : []),
      "--format",
      '{{.ID}}\t{{.Label "berth.service"}}\t{{.Label "berth.release"}}\t{{.Label "com.docker.compose.container-number"}}\t{{.State}}\t{{.CreatedAt}}',
    ],
  };
}

export function parseAppContainers(stdout: string): AppContainer[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [id = "", service = "", release = "", replica = "", state = "", createdAt = ""] = l.split("\t");
      return { id, service, release, replica: replica || "1", state, createdAt };
    })
    .filter((c) => c.id !== "")
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
}

/** The prefix of each log line: which service, replica and release it came from. */
export function logPrefix(c: AppContainer): string {
  return `${c.service}.${c.replica}${c.release ? ` r${c.release}` : ""} | `;
}

export function containerLogs(id: string, o: { follow?: boolean; since?: string; tail?: number }): Command {
  return {
    file: "docker",
    args: [
      "logs",
      ...(o.follow ? ["--follow"] : []),
      ...(o.since ? ["--since", o.since] : []),
      ...(o.tail !== undefined ? ["--tail", String(o.tail)] : []),
      id,
    ],
  };
}

/** A command in a running container; the command's exit code is docker's. */
export function execIn(id: string, command: readonly string[], o: { interactive: boolean }): Command {
  return { file: "docker", args: ["exec", ...(o.interactive ? ["--interactive"] : []), id, ...command] };
}

/** The Compose project one-off containers of an environment run in (beside its releases'). */
export function runProject(environmentId: string): string {
  return `berth_${environmentId}_run`;
}

/**
 * A one-off container of `service` from a release's rendered file: its pinned image, environment
 * (secrets interpolated by Compose from the caller's environment), networks and volumes; no
 * dependencies started, no ports published, removed when it ends.
 */
export function composeRun(o: {
  environmentId: string;
  file: string;
  service: string;
  command: readonly string[];
}): Command {
  return {
    file: "docker",
    args: [
      "compose",
      "--project-name",
      runProject(o.environmentId),
      "--file",
      o.file,
      "run",
      "--rm",
      "--no-deps",
      "-T",
      o.service,
      ...o.command,
    ],
  };
}
