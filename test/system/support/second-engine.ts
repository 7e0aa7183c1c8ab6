// A second, empty Docker Engine on this machine, standing in for a fresh node (machine.md): its
// own data root, exec root, socket and bridge (a unique name and an unused /24), with a
// MASQUERADE rule so its builds reach Debian's archive. `stop()` removes all of it: the engine,
// its folder, the bridge and the rules; call it in `finally`/afterAll.
// `workspaceNode`: the engine of a workspace node (contract/node/lazy-pull.ts): its own containerd
// with the stargz snapshotter (lazy pulling), and dockerd on containerd's image store.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LAZY_SNAPSHOTTER_BIN,
  renderContainerdConfig,
  renderSnapshotterConfig,
  renderWorkspaceDaemonJson,
  snapshotterArgs,
} from "../../../contract/node/lazy-pull";
import { run } from "../../../lib/process";
import { REGISTRY } from "./test-app-image";

export interface SecondEngine {
  /** unix://<dir>/docker.sock */
  host: string;
  dir: string;
  bridge: string;
  /** A workspace node's engine: the snapshotter's data folder (its FUSE mounts are below it). */
  snapshotterRoot?: string;
  /** A workspace node's engine: the snapshotter's Docker config folder (ExecutorOptions.snapshotterAuth). */
  snapshotterAuth?: string;
  stop(): Promise<void>;
}

async function usedSubnets(): Promise<Set<number>> {
  const r = await run("ip", ["-4", "route"]);
  const used = new Set<number>();
  for (const m of r.stdout.matchAll(/^10\.213\.(\d+)\./gm)) used.add(Number(m[1]));
  return used;
}

async function stopProcess(pid: number | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    return; // gone already
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 200));
    } catch {
      return;
    }
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // stopped
  }
}

async function waitForSocket(path: string, what: string, exited: () => boolean, log: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(path)) return;
    if (exited()) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-5).join("\n") : "";
  throw new Error(`${what} did not open ${path}; its log (${log}) ends:\n${tail}`);
}

/**
 * A workspace node's containerd and snapshotter in `dir`; returns dockerd's arguments and the
 * processes' ids (the snapshotter last to stop: it unmounts its layers when it ends). The
 * snapshotter fetches blobs itself with the registry's pull-only login, from a Docker config of
 * its own (mode 0600), never its command line.
 */
async function startLazyStorage(dir: string, pids: number[], login: boolean): Promise<string[]> {
  if (!existsSync("/dev/fuse"))
    throw new Error(
      "a workspace node's engine needs /dev/fuse: its stargz snapshotter mounts image layers with FUSE (modprobe fuse; in a container, --device /dev/fuse)",
    );
  const user = process.env.BERTH_REGISTRY_PULL_USER;
  const password = process.env.BERTH_REGISTRY_PULL_PASSWORD;
  if (!user || !password)
    throw new Error(
      "a workspace node's engine needs BERTH_REGISTRY_PULL_USER and BERTH_REGISTRY_PULL_PASSWORD (source scripts/env.sh)",
    );
  const auth = join(dir, "snapshotter-auth");
  mkdirSync(auth, { mode: 0o700 });
  // Without `login` the folder stays empty until the agent lends the workspace's pull login.
  if (login)
    writeFileSync(
      join(auth, "config.json"),
      JSON.stringify({
        auths: { [REGISTRY]: { auth: Buffer.from(`${user}:${password}`).toString("base64") } },
      }),
      { mode: 0o600 },
    );
  const paths = {
    root: join(dir, "containerd", "root"),
    state: join(dir, "containerd", "state"),
    address: join(dir, "containerd.sock"),
    snapshotterAddress: join(dir, "stargz.sock"),
  };
  writeFileSync(join(dir, "containerd.toml"), renderContainerdConfig(paths));
  writeFileSync(join(dir, "stargz.json"), renderSnapshotterConfig());
  writeFileSync(join(dir, "daemon.json"), renderWorkspaceDaemonJson(paths.address));
  const { execa } = await import("execa");
  const spawn = (file: string, args: string[], log: string, env: Record<string, string> = {}) => {
    const child = execa(file, args, {
      stdin: "ignore",
      stdout: "ignore",
      reject: false,
      cleanup: true,
      env,
      // Logs go to a file of the engine's folder (no secret is in them).
      stderr: { file: log },
    });
    if (child.pid !== undefined) pids.push(child.pid);
    return () => child.exitCode !== null && child.exitCode !== undefined;
  };
  const snLog = join(dir, "stargz.log");
  const snExited = spawn(
    LAZY_SNAPSHOTTER_BIN,
    snapshotterArgs({
      address: paths.snapshotterAddress,
      root: join(dir, "stargz"),
      configFile: join(dir, "stargz.json"),
    }),
    snLog,
    { DOCKER_CONFIG: auth },
  );
  await waitForSocket(paths.snapshotterAddress, LAZY_SNAPSHOTTER_BIN, snExited, snLog);
  const ctLog = join(dir, "containerd.log");
  const ctExited = spawn("containerd", ["--config", join(dir, "containerd.toml")], ctLog);
  await waitForSocket(paths.address, "containerd", ctExited, ctLog);
  return ["--config-file", join(dir, "daemon.json")];
}

/**
 * `dockerdArgs`: more of dockerd's flags (e.g. `--max-concurrent-downloads 8`). `workspaceNode`:
 * a workspace node's engine (its settings come from its daemon.json: pass no dockerdArgs that
 * repeat them).
 */
export async function startSecondEngine(
  o: { dockerdArgs?: string[]; workspaceNode?: boolean; snapshotterLogin?: boolean } = {},
): Promise<SecondEngine> {
  const suffix = Math.random().toString(36).slice(2, 8);
  const bridge = `bw6${suffix}`; // ≤ 15 characters
  const used = await usedSubnets();
  let third = 1 + Math.floor(Math.random() * 250);
  while (used.has(third)) third = (third % 250) + 1;
  const net = `10.213.${third}.0/24`;
  const dir = mkdtempSync(join(tmpdir(), "berth-engine-"));
  const host = `unix://${dir}/docker.sock`;
  const rules: string[][] = [
    ["-t", "nat", "POSTROUTING", "-s", net, "!", "-o", bridge, "-j", "MASQUERADE"],
    ["-t", "filter", "FORWARD", "-i", bridge, "-j", "ACCEPT"],
    ["-t", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT"],
  ];
  const added: string[][] = [];
  let pid: number | undefined;
  // containerd, then the snapshotter: stopped after dockerd, in reverse order.
  const storagePids: number[] = [];

  const stop = async () => {
    await stopProcess(pid);
    for (const p of [...storagePids].reverse()) await stopProcess(p);
    for (const [table, flag, chain, ...rest] of added.reverse())
      await run("iptables", [table!, flag!, "-D", chain!, ...rest], { allowFailure: true });
    await run("ip", ["link", "del", bridge], { allowFailure: true });
    // Mounts the engine may have left (overlay layers of killed containers).
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(dir))
      .sort()
      .reverse();
    for (const m of mounts) await run("umount", ["-l", m], { allowFailure: true });
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await run("ip", ["link", "add", bridge, "type", "bridge"]);
    await run("ip", ["addr", "add", `10.213.${third}.1/24`, "dev", bridge]);
    await run("ip", ["link", "set", bridge, "up"]);
    for (const [table, flag, chain, ...rest] of rules.map((r) => [r[0]!, r[1]!, ...r.slice(2)])) {
      await run("iptables", [table!, flag!, "-I", chain!, "1", ...rest]);
      added.push([table!, flag!, chain!, ...rest]);
    }
    const lazyArgs = o.workspaceNode
      ? await startLazyStorage(dir, storagePids, o.snapshotterLogin !== false)
      : [];
    const { execa } = await import("execa");
    const child = execa(
      "dockerd",
      [
        "--data-root",
        join(dir, "data"),
        "--exec-root",
        join(dir, "exec"),
        "-H",
        host,
        "--pidfile",
        join(dir, "pid"),
        "-b",
        bridge,
        "--iptables=false",
        "--ip-masq=false",
        ...lazyArgs,
        ...(o.dockerdArgs ?? []),
      ],
      { detached: false, stdio: ["ignore", "ignore", "ignore"], reject: false, cleanup: true },
    );
    pid = child.pid;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const r = await run("docker", ["version", "--format", "{{.Server.Version}}"], {
        env: { DOCKER_HOST: host },
        allowFailure: true,
        timeoutMs: 10_000,
      });
      if (r.exitCode === 0)
        return {
          host,
          dir,
          bridge,
          stop,
          ...(o.workspaceNode
            ? { snapshotterRoot: join(dir, "stargz"), snapshotterAuth: join(dir, "snapshotter-auth") }
            : {}),
        };
      if (child.exitCode !== null && child.exitCode !== undefined) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`the second dockerd did not answer on ${host}${existsSync(dir) ? "" : " (folder gone)"}`);
  } catch (e) {
    await stop();
    throw e;
  }
}
