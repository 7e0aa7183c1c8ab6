// Every Docker Compose invocation the agent makes, built as data (file + args) by pure
// functions, so they are tested without running them and run by one executor (lib/process).

export interface Command {
  file: string;
  args: string[];
}

/** One Compose project on the node: a name and the rendered file it runs from. */
export interface ComposeTarget {
  project: string;
  file: string;
}

function compose(t: ComposeTarget, ...args: string[]): Command {
  return { file: "docker", args: ["compose", "--project-name", t.project, "--file", t.file, ...args] };
}

export function pull(t: ComposeTarget, services: readonly string[]): Command {
  return compose(t, "pull", "--quiet", ...services);
}

export interface UpOptions {
  /**
   * Seconds to wait (`--wait`) for every started service to be running and healthy. Only worth
   * its cost where a service has a Docker healthcheck: Compose polls every 0.5 s, so `--wait`
   * adds ~0.5 s even to a container that is up at once. Without it, `up` returns once the
   * containers have started, and the caller checks them.
   */
  waitTimeoutSeconds?: number;
  /** Do not start the services' dependencies (they run in another project). */
  noDeps?: boolean;
  /** Recreate containers even when their configuration did not change. */
  forceRecreate?: boolean;
}

export function up(t: ComposeTarget, services: readonly string[], o: UpOptions): Command {
  return compose(
    t,
    "up",
    "--detach",
    ...(o.waitTimeoutSeconds !== undefined ? ["--wait", "--wait-timeout", String(o.waitTimeoutSeconds)] : []),
    "--pull",
    "never",
    ...(o.noDeps ? ["--no-deps"] : []),
    ...(o.forceRecreate ? ["--force-recreate"] : []),
    ...services,
  );
}

/** The host address Docker picked for a published container port: `docker compose port`. */
export function port(t: ComposeTarget, service: string, containerPort: number, index?: number): Command {
  return compose(
    t,
    "port",
    ...(index !== undefined ? ["--index", String(index)] : []),
    service,
    String(containerPort),
  );
}

export function stop(t: ComposeTarget, services: readonly string[], timeoutSeconds: number): Command {
  return compose(t, "stop", "--timeout", String(timeoutSeconds), ...services);
}

/**
 * Removes a project's containers (found by the project's label, so no Compose file, and no
 * secret it interpolates, is needed); named volumes are never removed.
 */
export function down(project: string, timeoutSeconds?: number): Command {
  return {
    file: "docker",
    args: [
      "compose",
      "--project-name",
      project,
      "down",
      "--remove-orphans",
      // Without --timeout each container gets its own stop_grace_period.
      ...(timeoutSeconds !== undefined ? ["--timeout", String(timeoutSeconds)] : []),
    ],
  };
}

export function ps(t: ComposeTarget): Command {
  return compose(t, "ps", "--all", "--format", "json");
}

export function logs(t: ComposeTarget, service: string, tail: number): Command {
  return compose(t, "logs", "--no-color", "--no-log-prefix", "--tail", String(tail), service);
}

/** Every container berth started for an environment, whatever its project. */
export function containersOfEnvironment(environmentId: string): Command {
  return {
    file: "docker",
    args: [
      "ps",
      "--all",
      "--filter",
      `label=berth.environment=${environmentId}`,
      "--format",
      '{{.ID}}\t{{.Label "com.docker.compose.project"}}\t{{.Label "berth.release"}}\t{{.Label "berth.service"}}\t{{.State}}',
    ],
  };
}

/**
 * Stops containers by id: each gets its stop signal, then `timeoutSeconds` or (absent) its own
 * stop_grace_period (Compose sets it as the container's stop timeout), as `compose down` does.
 */
export function stopContainers(ids: readonly string[], timeoutSeconds?: number): Command {
  return {
    file: "docker",
    args: ["stop", ...(timeoutSeconds !== undefined ? ["--time", String(timeoutSeconds)] : []), ...ids],
  };
}

/** Removes containers by id (forcefully: used to clean up a half-started release). */
export function removeContainers(ids: readonly string[]): Command {
  return { file: "docker", args: ["rm", "--force", "--volumes=false", ...ids] };
}

/** Exits 0 when the network exists. */
export function networkExists(name: string): Command {
  return { file: "docker", args: ["network", "inspect", "--format", "{{.Name}}", name] };
}

/** An environment's bridge network; `internal`: no route out of the host. */
export function createNetwork(name: string, environmentId: string, o: { internal?: boolean } = {}): Command {
  return {
    file: "docker",
    args: [
      "network",
      "create",
      "--driver",
      "bridge",
      "--label",
      `berth.environment=${environmentId}`,
      ...(o.internal ? ["--internal"] : []),
      name,
    ],
  };
}

export function removeNetwork(name: string): Command {
  return { file: "docker", args: ["network", "rm", name] };
}

/** Exits 0 when the volume exists. */
export function volumeExists(name: string): Command {
  return { file: "docker", args: ["volume", "inspect", "--format", "{{.Name}}", name] };
}

/** A Docker volume bound to a folder on the node (`device`), where its data lives. */
export function createBoundVolume(name: string, device: string, environmentId: string): Command {
  return {
    file: "docker",
    args: [
      "volume",
      "create",
      "--driver",
      "local",
      "--opt",
      "type=none",
      "--opt",
      "o=bind",
      "--opt",
      `device=${device}`,
      "--label",
      `berth.environment=${environmentId}`,
      name,
    ],
  };
}

/** `docker compose port` prints `127.0.0.1:49153` (or `[::1]:49153`); returns the port. */
export function parsePortOutput(stdout: string): { host: string; port: number } {
  const line = stdout.trim().split("\n")[0] ?? "";
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(line);
  if (!m) throw new Error(`unexpected output of docker compose port: ${JSON.stringify(line)}`);
  return { host: m[1] === "0.0.0.0" || m[1] === "" ? "127.0.0.1" : (m[1] as string), port: Number(m[2]) };
}

/** Succeeds (exit 0) only if every image is present on the node: `docker image inspect`. */
/**
 * Inspects images: exits non-zero when one is missing; for each present one, in order, prints
 * its own healthcheck as JSON (`null` when it has none). See parseImageHealthchecks.
 */
export function inspectImages(images: readonly string[]): Command {
  return {
    file: "docker",
    args: ["image", "inspect", "--format", "{{json .Config.Healthcheck}}", ...images],
  };
}

/**
 * Which of `images` carry a healthcheck of their own (a HEALTHCHECK in their Dockerfile), from
 * inspectImages' output of all of them; undefined when the output does not match (unknown).
 */
export function parseImageHealthchecks(
  images: readonly string[],
  stdout: string,
): Map<string, boolean> | undefined {
  const lines = stdout.trim().split("\n");
  if (lines.length !== images.length) return undefined;
  const out = new Map<string, boolean>();
  for (const [i, image] of images.entries()) {
    let h: { Test?: unknown } | null;
    try {
      h = JSON.parse(lines[i] as string) as { Test?: unknown } | null;
    } catch {
      return undefined;
    }
    const test = h?.Test;
    out.set(image, Array.isArray(test) && test.length > 0 && test[0] !== "NONE");
  }
  return out;
}

/**
 * An environment's containers with their project, state and Docker's status text (which carries
 * the health): one `docker ps`, much cheaper than a `docker compose ps` per project.
 */
export function containerStates(environmentId: string): Command {
  return {
    file: "docker",
    args: [
      "ps",
      "--all",
      "--filter",
      `label=berth.environment=${environmentId}`,
      "--format",
      '{{.Label "com.docker.compose.project"}}\t{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}\t{{.Label "com.docker.compose.config-hash"}}',
    ],
  };
}

export interface ContainerState {
  project: string;
  service: string;
  state: string;
  health?: "healthy" | "unhealthy" | "starting";
  /** Compose's hash of the service definition the container was made from. */
  configHash?: string;
}

/** Compose's hash of each service's definition (`name hash` lines): what `up` compares. */
export function configHash(t: ComposeTarget, services: readonly string[]): Command {
  return compose(t, "config", "--hash", services.join(","));
}

/** Parses `configHash` output: service → hash. */
export function parseConfigHashes(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^(\S+)\s+([0-9a-f]{16,})$/.exec(line.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** Parses the output of `containerStates`. */
export function parseContainerStates(stdout: string): ContainerState[] {
  const out: ContainerState[] = [];
  for (const line of stdout.split("\n")) {
    const [project, service, state, status = "", hash = ""] = line.split("\t");
    if (!project || !service || !state) continue;
    const h = /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1];
    out.push({
      project,
      service,
      state,
      ...(h ? { health: h === "health: starting" ? "starting" : (h as "healthy" | "unhealthy") } : {}),
      ...(hash ? { configHash: hash } : {}),
    });
  }
  return out;
}

/** A Compose project's containers and their services (`docker ps`: ~20 ms, no Compose start). */
export function projectContainers(project: string): Command {
  return {
    file: "docker",
    args: [
      "ps",
      "--all",
      "--no-trunc",
      "--filter",
      `label=com.docker.compose.project=${project}`,
      "--format",
      '{{.ID}}\t{{.Label "com.docker.compose.service"}}',
    ],
  };
}

/** Each container's state, when it last started and its exit code (`docker inspect`). */
export function containerRuns(ids: readonly string[]): Command {
  return {
    file: "docker",
    args: [
      "inspect",
      "--format",
      "{{.Id}}\t{{.State.Status}}\t{{.State.StartedAt}}\t{{.State.ExitCode}}\t{{.HostConfig.RestartPolicy.Name}}",
      ...ids,
    ],
  };
}

/**
 * One container of a service: its state, its last start (ms since the epoch), exit code and
 * restart policy (Docker's name: `no`, `always`, `unless-stopped`, `on-failure`; empty is `no`).
 */
export interface ContainerRun {
  service: string;
  state: string;
  startedAt: number;
  exitCode: number;
  restartPolicy: string;
}

/** projectContainers' and containerRuns' outputs joined: each container with its service. */
export function parseContainerRuns(psStdout: string, inspectStdout: string): ContainerRun[] {
  const serviceOf = new Map<string, string>();
  for (const line of psStdout.split("\n")) {
    const [id, service] = line.trim().split("\t");
    if (id && service) serviceOf.set(id, service);
  }
  const out: ContainerRun[] = [];
  for (const line of inspectStdout.split("\n")) {
    const [id, state, startedAt, exitCode, restartPolicy] = line.trim().split("\t");
    const service = id ? serviceOf.get(id) : undefined;
    if (!service || !state || !startedAt) continue;
    // RFC 3339 with nanoseconds: milliseconds are enough.
    const ms = Date.parse(startedAt.replace(/(\.\d{3})\d*/, "$1"));
    out.push({
      service,
      state,
      startedAt: Number.isNaN(ms) ? 0 : ms,
      exitCode: Number(exitCode ?? 0),
      restartPolicy: restartPolicy || "no",
    });
  }
  return out;
}
