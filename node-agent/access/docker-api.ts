// The few Docker Engine API calls a terminal needs and the docker CLI cannot give a process that
// has no terminal of its own: an exec with a pseudo-terminal (Tty), its raw stream (the hijacked
// connection), resizes and its exit code; and a container's CPU time (idle workspaces, without
// the CLI's two-sample wait). Over the engine's Unix socket (DOCKER_HOST unix://…).
import { request } from "node:http";
import type { Duplex } from "node:stream";

const API = "/v1.45";

export function dockerSocket(dockerHost: string | undefined): string {
  const h = dockerHost ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!h.startsWith("unix://"))
    throw new Error(`a terminal needs the Docker Engine on a Unix socket; DOCKER_HOST is ${h}`);
  return h.slice("unix://".length);
}

/** An answer of the engine with an error status (its message says which call and why). */
export class DockerApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function call(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path: `${API}${path}`,
        headers: data
          ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) }
          : {},
        timeout: 30_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = text;
          }
          if ((res.statusCode ?? 500) >= 400)
            reject(
              new DockerApiError(
                `Docker ${method} ${path}: ${res.statusCode} ${(json as { message?: string })?.message ?? text}`,
                res.statusCode ?? 500,
              ),
            );
          else resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`Docker ${method} ${path}: no answer in 30 s`)));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

export interface ExecSpec {
  container: string;
  command: string[];
  user?: string;
  workingDir?: string;
  env?: string[];
  tty: boolean;
}

/** Creates an exec and attaches to it; returns its raw stream (a pty's bytes when tty). */
export async function startExec(socketPath: string, s: ExecSpec): Promise<{ id: string; stream: Duplex }> {
  const created = await call(socketPath, "POST", `/containers/${encodeURIComponent(s.container)}/exec`, {
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: s.tty,
    Cmd: s.command,
    ...(s.user ? { User: s.user } : {}),
    ...(s.workingDir ? { WorkingDir: s.workingDir } : {}),
    ...(s.env ? { Env: s.env } : {}),
  });
  const id = (created.json as { Id: string }).Id;
  const stream = await new Promise<Duplex>((resolve, reject) => {
    const body = JSON.stringify({ Detach: false, Tty: s.tty });
    const req = request({
      socketPath,
      method: "POST",
      path: `${API}/exec/${id}/start`,
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        connection: "Upgrade",
        upgrade: "tcp",
      },
    });
    req.on("upgrade", (_res, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on("response", (res) => reject(new Error(`Docker exec start: ${res.statusCode} (no stream)`)));
    req.on("error", reject);
    req.end(body);
  });
  return { id, stream };
}

export async function resizeExec(socketPath: string, id: string, cols: number, rows: number): Promise<void> {
  await call(socketPath, "POST", `/exec/${id}/resize?h=${rows}&w=${cols}`);
}

/** The exec's exit code once it ended (null while it runs). */
export async function execExitCode(socketPath: string, id: string): Promise<number | null> {
  const r = await call(socketPath, "GET", `/exec/${id}/json`);
  const j = r.json as { Running?: boolean; ExitCode?: number | null };
  return j.Running ? null : (j.ExitCode ?? null);
}

/** A container's total CPU time in ns (the engine's one-shot stats: one read, no sampling wait). */
export async function containerCpuNanos(socketPath: string, container: string): Promise<number> {
  const r = await call(
    socketPath,
    "GET",
    `/containers/${encodeURIComponent(container)}/stats?stream=false&one-shot=true`,
  );
  const total = (r.json as { cpu_stats?: { cpu_usage?: { total_usage?: unknown } } })?.cpu_stats?.cpu_usage
    ?.total_usage;
  if (typeof total !== "number") throw new Error(`Docker stats of ${container}: no CPU usage`);
  return total;
}

/** The ids of running containers with a label (`key=value`), as `docker ps -q --no-trunc` lists them. */
export async function runningContainersWithLabel(socketPath: string, label: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label], status: ["running"] }));
  const r = await call(socketPath, "GET", `/containers/json?filters=${filters}`);
  return (r.json as { Id: string }[]).map((c) => c.Id);
}

/** A container's inspection, as `docker inspect` prints it (an array of one). */
export async function inspectContainerJson(socketPath: string, id: string): Promise<string> {
  const r = await call(socketPath, "GET", `/containers/${encodeURIComponent(id)}/json`);
  return JSON.stringify([r.json]);
}

/** Splits an exec's multiplexed stream (no tty: 8-byte headers, 1 stdout, 2 stderr). */
export function demux(data: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let at = 0;
  while (at + 8 <= data.length) {
    const size = data.readUInt32BE(at + 4);
    const part = data.subarray(at + 8, at + 8 + size);
    (data[at] === 2 ? err : out).push(part);
    at += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

/** Runs a short command without a terminal and returns its output and exit code (no docker CLI). */
export async function execCapture(
  socketPath: string,
  s: Omit<ExecSpec, "tty">,
  timeoutMs = 30_000,
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const { id, stream } = await startExec(socketPath, { ...s, tty: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      stream.destroy();
      reject(new Error(`${s.command[0]} did not end within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      clearTimeout(t);
      resolve();
    });
    stream.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    stream.end();
  });
  stream.destroy();
  return { ...demux(Buffer.concat(chunks)), exitCode: (await execExitCode(socketPath, id)) ?? -1 };
}

/** Containers (running or not) with every label (`key=value`), as the Engine API lists them. */
export async function containersWithLabels(
  socketPath: string,
  labels: readonly string[],
): Promise<unknown[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: labels }));
  const r = await call(socketPath, "GET", `/containers/json?all=true&filters=${filters}`);
  return r.json as unknown[];
}

/** Whether the engine has a network or a volume of that name (404: it has none). */
export async function engineObjectExists(
  socketPath: string,
  kind: "networks" | "volumes",
  name: string,
): Promise<boolean> {
  try {
    await call(socketPath, "GET", `/${kind}/${encodeURIComponent(name)}`);
    return true;
  } catch (e) {
    if (e instanceof DockerApiError && e.status === 404) return false;
    throw e;
  }
}

/** POST /networks/create or /volumes/create with the engine's own body. */
export async function createEngineObject(
  socketPath: string,
  kind: "networks" | "volumes",
  body: Record<string, unknown>,
): Promise<void> {
  await call(socketPath, "POST", `/${kind}/create`, body);
}
