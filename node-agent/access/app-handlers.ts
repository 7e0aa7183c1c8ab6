// The handlers of app access on a deployment node: logs of an environment's containers across
// releases and replicas (following new containers as releases start them), and exec in a running
// container. `run` needs the current release's rendered file and secrets: the agent gives it.
import { createInterface } from "node:readline";
import type { AccessRequest } from "../../contract/access";
import { run, spawnStreaming } from "../../lib/process";
import type { Command } from "../compose/commands";
import {
  type AppContainer,
  containerLogs,
  execIn,
  listAppContainers,
  logPrefix,
  parseAppContainers,
} from "./app-commands";
import type { AccessContext, ActionHandler } from "./server";
import { type StreamSession, stdinTo } from "./session";

export interface AppAccessDeps {
  /** Extra environment for Docker (DOCKER_HOST). */
  dockerEnv?: Record<string, string>;
  /** How often `logs --follow` looks for new containers (a release starting). */
  followPollMs?: number;
}

async function containers(d: AppAccessDeps, env: string, service?: string): Promise<AppContainer[]> {
  const c = listAppContainers(env, service);
  const r = await run(c.file, c.args, { env: d.dockerEnv ?? {}, timeoutMs: 30_000 });
  return parseAppContainers(r.stdout);
}

/** Streams one container's logs, each line prefixed, to the session; resolves when they end. */
async function streamLogs(
  d: AppAccessDeps,
  s: StreamSession,
  c: AppContainer,
  cmd: Command,
  signal: AbortSignal,
) {
  const p = spawnStreaming(cmd.file, cmd.args, { env: d.dockerEnv ?? {}, signal });
  const prefix = logPrefix(c);
  const lines = async (from: NodeJS.ReadableStream, stream: "stdout" | "stderr") => {
    for await (const line of createInterface({ input: from as NodeJS.ReadableStream, crlfDelay: Infinity }))
      await s.write(stream, `${prefix}${line}\n`);
  };
  await Promise.all([lines(p.stdout, "stdout"), lines(p.stderr, "stderr"), p.exit]);
}

export function appHandlers(d: AppAccessDeps = {}): { logs: ActionHandler; exec: ActionHandler } {
  const logs: ActionHandler = async (c) => {
    const r = c.request as AccessRequest<"logs">;
    const env = c.target.id;
    const seen = new Set<string>();
    const first = await containers(d, env, r.service);
    if (first.length === 0 && !r.follow) {
      await c.session.write(
        "stderr",
        `no containers of ${r.service ? `service ${r.service} of ` : ""}environment ${env} on this node\n`,
      );
      return 1;
    }
    const opts = {
      ...(r.since ? { since: r.since } : {}),
      ...(r.tail !== undefined ? { tail: r.tail } : {}),
    };
    if (!r.follow) {
      // Oldest container first: a release's lines after the one before it.
      for (const x of first) await streamLogs(d, c.session, x, containerLogs(x.id, opts), c.session.signal);
      return 0;
    }
    const running: Promise<void>[] = [];
    const attach = (x: AppContainer, o: typeof opts) => {
      seen.add(x.id);
      running.push(
        streamLogs(d, c.session, x, containerLogs(x.id, { ...o, follow: true }), c.session.signal).catch(
          () => {},
        ),
      );
    };
    for (const x of first) attach(x, opts);
    // New containers (a release, a restart into a new container) are followed from their start.
    while (!c.session.signal.aborted) {
      await sleep(d.followPollMs ?? 500, c.session.signal);
      if (c.session.signal.aborted) break;
      for (const x of await containers(d, env, r.service).catch(() => [])) if (!seen.has(x.id)) attach(x, {});
    }
    await Promise.all(running);
    return 0;
  };

  const exec: ActionHandler = async (c: AccessContext) => {
    const r = c.request as AccessRequest<"exec">;
    const live = (await containers(d, c.target.id, r.service)).filter((x) => x.state === "running");
    const target = live.at(-1);
    if (!target) {
      await c.session.write(
        "stderr",
        `no running container of service ${r.service} in environment ${c.target.id}\n`,
      );
      return 125;
    }
    return await pipeCommand(
      c.session,
      execIn(target.id, r.command, { interactive: true }),
      d.dockerEnv ?? {},
    );
  };
  return { logs, exec };
}

/** Runs a command with the session as its standard streams; resolves with its exit code. */
export async function pipeCommand(
  s: StreamSession,
  cmd: Command,
  env: Record<string, string>,
): Promise<number> {
  const p = spawnStreaming(cmd.file, cmd.args, { env, stdin: "pipe", signal: s.signal });
  const stdin = p.stdin;
  if (stdin) {
    stdin.on("error", () => {});
    stdinTo(s, stdin, () => void stdin.end());
  }
  const [, , code] = await Promise.all([s.pipe(p.stdout, "stdout"), s.pipe(p.stderr, "stderr"), p.exit]);
  return code;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
