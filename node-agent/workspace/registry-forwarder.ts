// A registry on the node's loopback (the local node's gated registry) is out of reach of the
// isolated builder, which has no host network. While a build runs, the agent forwards TCP from
// the builder network's gateway (the mirror in buildkitd.toml) to the registry, bytes untouched:
// the registry still checks every login, and the build holds only the pull login. The listener
// lives only while a build that needs it runs (counted per address, so concurrent builds share
// it). Another agent process of the node already listening there (a one-shot `berth-agent
// workspace up` beside the daemon) serves as well: it forwards to the same registry.
import { createConnection, createServer, type Server, type Socket } from "node:net";

interface Open {
  server: Promise<Server | undefined>;
  users: number;
  /** Open connections, ended at close (BuildKit keeps idle ones for minutes). */
  sockets: Set<Socket>;
}

const open = new Map<string, Open>();

function listen(
  host: string,
  port: number,
  target: { host: string; port: number },
  sockets: Set<Socket>,
): Promise<Server | undefined> {
  const server = createServer((client) => {
    const upstream = createConnection(target);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      e.code === "EADDRINUSE" ? resolve(undefined) : reject(e),
    );
    server.listen(port, host, () => resolve(server));
  });
}

function split(hostPort: string): { host: string; port: number } {
  const m = hostPort.match(/^\[?(.*?)\]?:(\d+)$/);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: hostPort, port: 80 };
}

/** Forwards `listenAt` (`gateway:port`) to `target` (`127.0.0.1:port`) until the returned release. */
export async function forwardRegistry(listenAt: string, target: string): Promise<() => Promise<void>> {
  const key = `${listenAt}>${target}`;
  let o = open.get(key);
  if (!o) {
    const at = split(listenAt);
    const sockets = new Set<Socket>();
    o = { server: listen(at.host, at.port, split(target), sockets), users: 0, sockets };
    open.set(key, o);
  }
  o.users++;
  const mine = o;
  try {
    await mine.server;
  } catch (e) {
    mine.users--;
    if (open.get(key) === mine && mine.users === 0) open.delete(key);
    throw new Error(
      `cannot forward the registry ${target} to the builders' network at ${listenAt}: ${(e as Error).message}`,
    );
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    mine.users--;
    if (mine.users > 0) return;
    if (open.get(key) === mine) open.delete(key);
    const s = await mine.server.catch(() => undefined);
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    for (const c of mine.sockets) c.destroy();
    await closed;
  };
}
