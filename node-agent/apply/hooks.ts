// Compose's lifecycle hooks (`post_start`, `pre_stop`), run by the agent: the node's Compose
// (2.26) reads them but does not run them. Each hook is a `docker exec` in one container of the
// service, with the hook's user, working folder and environment, built here as data.
import type { Hook } from "../../contract/manifest/schema";
import type { Command } from "../compose/commands";

/** The IDs of a project's containers of one service, running or not (`docker ps`). */
export function serviceContainers(project: string, service: string): Command {
  return {
    file: "docker",
    args: [
      "ps",
      "--all",
      "--filter",
      `label=com.docker.compose.project=${project}`,
      "--filter",
      `label=com.docker.compose.service=${service}`,
      "--format",
      '{{.ID}}\t{{.State}}\t{{.Label "com.docker.compose.config-hash"}}',
    ],
  };
}

export interface HookContainer {
  id: string;
  state: string;
  /** Compose's hash of the definition the container was made from. */
  configHash: string;
}

export function parseServiceContainers(stdout: string): HookContainer[] {
  const out: HookContainer[] = [];
  for (const line of stdout.split("\n")) {
    const [id = "", state = "", configHash = ""] = line.trim().split("\t");
    if (/^[0-9a-f]{12,64}$/.test(id)) out.push({ id, state, configHash });
  }
  return out;
}

/** `docker exec` of one hook (as `parseNodeExtras` read it: `$` no longer escaped) in one container. */
export function hookExec(container: string, hook: Hook): Command {
  return {
    file: "docker",
    args: [
      "exec",
      ...(hook.user ? ["--user", hook.user] : []),
      ...(hook.workingDir ? ["--workdir", hook.workingDir] : []),
      ...Object.entries(hook.environment).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
      container,
      ...hook.command,
    ],
  };
}
