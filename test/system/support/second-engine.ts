// A second, empty Docker Engine on this machine, standing in for a fresh node (machine.md): its
// own data root, exec root, socket and bridge (a unique name and an unused /24), with a
// MASQUERADE rule so its builds reach Debian's archive. `stop()` removes all of it: the engine,
// its folder, the bridge and the rules; call it in `finally`/afterAll.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../../lib/process";

export interface SecondEngine {
  /** unix://<dir>/docker.sock */
  host: string;
  dir: string;
  bridge: string;
  stop(): Promise<void>;
}

async function usedSubnets(): Promise<Set<number>> {
  const r = await run("ip", ["-4", "route"]);
  const used = new Set<number>();
  for (const m of r.stdout.matchAll(/^10\.213\.(\d+)\./gm)) used.add(Number(m[1]));
  return used;
}

/** `dockerdArgs`: more of dockerd's flags (e.g. `--max-concurrent-downloads 8`). */
export async function startSecondEngine(o: { dockerdArgs?: string[] } = {}): Promise<SecondEngine> {
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

  const stop = async () => {
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone already
      }
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        try {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 200));
        } catch {
          break;
        }
      }
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // stopped
      }
    }
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
      if (r.exitCode === 0) return { host, dir, bridge, stop };
      if (child.exitCode !== null && child.exitCode !== undefined) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`the second dockerd did not answer on ${host}${existsSync(dir) ? "" : " (folder gone)"}`);
  } catch (e) {
    await stop();
    throw e;
  }
}
