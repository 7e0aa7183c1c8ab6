// The Docker commands of backups and restores, built as data (like compose/commands.ts) and run
// by the agent's one Docker runner (docker.ts): which containers a hook or a swap touches,
// stopping and starting them, and the hooks themselves.
import type { Command } from "../compose/commands";

/** Ids of the running containers of one service of an environment. */
export function runningContainersOf(environmentId: string, service: string): Command {
  return {
    file: "docker",
    args: [
      "ps",
      "--quiet",
      "--filter",
      `label=berth.environment=${environmentId}`,
      "--filter",
      `label=berth.service=${service}`,
      "--filter",
      "status=running",
    ],
  };
}

/** Ids of the running containers that mount a Docker volume. */
export function runningContainersUsing(volume: string): Command {
  return {
    file: "docker",
    args: ["ps", "--quiet", "--filter", `volume=${volume}`, "--filter", "status=running"],
  };
}

/** A hook: `command` run in container `id`. */
export function exec(id: string, command: readonly string[]): Command {
  return { file: "docker", args: ["exec", id, ...command] };
}

export function stopContainers(ids: readonly string[]): Command {
  return { file: "docker", args: ["stop", ...ids] };
}

export function startContainers(ids: readonly string[]): Command {
  return { file: "docker", args: ["start", ...ids] };
}

/** The container ids `docker ps --quiet` printed. */
export function parseIds(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
