// What a swarm test prints when a node does not serve a route (issue 23, traffic): which HAProxy
// answered and why. A request goes client → the node's own HAProxy (the agent's, its admin socket
// on this machine) → the node's `berth-proxy` task (Swarm, on the environment's overlay) → a task
// of the service, found through Docker's embedded DNS (`tasks.<stack>_<service>`). The report
// reads each hop:
// - the node HAProxy's servers for the host (`show servers state`: address, port, state);
// - the leader's view of the service's and the proxy's tasks (`docker service ps`);
// - inside the node's berth-proxy task: what the embedded DNS answers for the service's tasks, and
//   whether a TCP connection to each answered address opens (what its health checks see);
// - the overlay as the node's engine sees it (`docker network inspect --verbose`: the tasks its
//   gossip knows) and the last warnings and errors of that engine.
import { existsSync, readFileSync } from "node:fs";
import { run } from "../../../lib/process";
import type { BedNode, SwarmBed } from "./swarm-engines";

export interface TrafficPath {
  /** The stack's name (`berth-<env>`). */
  stack: string;
  /** The routed service and its port. */
  service: string;
  port: number;
  /** The node HAProxy's admin socket on this machine, when the test knows it. */
  adminSocket?: string | undefined;
  /** The agents' log files (the leader's and the node's), when the test knows them. */
  agentLogs?: string[] | undefined;
}

const short = (s: string, max = 4000) => (s.length > max ? `${s.slice(0, max)}…` : s);

async function section(title: string, f: () => Promise<string>): Promise<string> {
  try {
    return `--- ${title}\n${(await f()).trim() || "(empty)"}`;
  } catch (e) {
    return `--- ${title}\n(could not read: ${e instanceof Error ? e.message : String(e)})`;
  }
}

/** A readable account of every hop between `node`'s HAProxy and the service's tasks. */
export async function swarmTrafficReport(
  bed: SwarmBed,
  leader: BedNode,
  node: BedNode,
  path: TrafficPath,
): Promise<string> {
  const d = (n: BedNode, args: string[], timeoutMs = 20_000) =>
    bed.docker(n, args, { allowFailure: true, timeoutMs }).then((r) => `${r.stdout}${r.stderr}`);
  const full = `${path.stack}_${path.service}`;
  const proxyService = `${path.stack}_berth-proxy`;
  const parts: string[] = [`=== the path from ${node.name}'s HAProxy to ${full}:${path.port}`];
  if (path.adminSocket) {
    const socket = path.adminSocket;
    parts.push(
      await section(`${node.name}'s own HAProxy: show servers state`, async () => {
        const r = await run("socat", ["-t", "5", "-", `UNIX-CONNECT:${socket}`], {
          input: "show servers state\n",
          allowFailure: true,
          timeoutMs: 10_000,
        });
        return `${r.stdout}${r.stderr}`;
      }),
    );
  }
  const ps = [
    "service",
    "ps",
    "--no-trunc",
    "--format",
    "{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}",
  ];
  parts.push(await section(`the leader: docker service ps ${full}`, () => d(leader, [...ps, full])));
  parts.push(
    await section(`the leader: docker service ps ${proxyService}`, () => d(leader, [...ps, proxyService])),
  );
  const container = (
    await d(node, ["ps", "--quiet", "--filter", `label=com.docker.swarm.service.name=${proxyService}`])
  )
    .trim()
    .split("\n")[0];
  if (container) {
    const dns = await section(`${node.name}'s berth-proxy: getent ahostsv4 tasks.${full}`, () =>
      d(node, ["exec", container, "getent", "ahostsv4", `tasks.${full}`]),
    );
    parts.push(dns);
    const ips = [...new Set(dns.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? [])];
    for (const ip of ips)
      parts.push(
        await section(`${node.name}'s berth-proxy: TCP connect to ${ip}:${path.port}`, () =>
          d(node, [
            "exec",
            container,
            "timeout",
            "3",
            "bash",
            "-c",
            `exec 3<>/dev/tcp/${ip}/${path.port} && echo connected || echo refused`,
          ]).then((s) => s || "no answer within 3 s"),
        ),
      );
    parts.push(
      await section(`${node.name}'s berth-proxy: its log`, () =>
        d(node, ["logs", "--tail", "30", container]),
      ),
    );
  } else parts.push(`--- ${node.name} runs no berth-proxy container`);
  // The overlays the proxy is on, as each engine's gossip knows them (their options say whether
  // they are encrypted).
  const networks = container
    ? (
        await d(node, [
          "inspect",
          "--format",
          "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
          container,
        ])
      )
        .trim()
        .split(/\s+/)
        .filter((n) => n.startsWith("berth_"))
    : [];
  for (const network of networks) {
    const verbose = [
      "network",
      "inspect",
      "--verbose",
      "--format",
      "options {{json .Options}} peers {{json .Peers}} services {{json .Services}}",
      network,
    ];
    parts.push(
      await section(`${node.name}: docker network inspect --verbose ${network}`, () => d(node, verbose)),
    );
    if (node.name !== leader.name)
      parts.push(
        await section(`the leader: docker network inspect --verbose ${network}`, () => d(leader, verbose)),
      );
  }
  parts.push(
    await section(`${node.name}'s engine: its last warnings and errors`, async () => {
      const r = await run("docker", ["logs", "--tail", "400", node.name], {
        allowFailure: true,
        timeoutMs: 20_000,
      });
      return `${r.stdout}${r.stderr}`
        .split("\n")
        .filter((l) => /level=(warn|error|fatal)/.test(l))
        .slice(-25)
        .join("\n");
    }),
  );
  for (const log of path.agentLogs ?? [])
    parts.push(
      await section(`the agent's log ${log}: its last lines`, async () =>
        existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-40).join("\n") : "(no such file)",
      ),
    );
  return short(parts.join("\n"), 30_000);
}
