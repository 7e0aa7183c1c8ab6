// Does every node's `berth-proxy` reach the environment's tasks? (issue 23: "a release's health
// is what clients see through any node"). Swarm counts a proxy task running as soon as HAProxy
// started; whether that node's proxy reaches any task of a routed service depends on the overlay
// between the engines (VXLAN, and IPsec for an encrypted overlay: a kernel without ESP drops
// every packet between the nodes while Swarm says all is well). So the leader's agent, once the
// stack converged, asks each node's proxy, at the node's address and the port it publishes, for
// its readiness (PROXY_READY_PATH with the Host PROXY_READY_HOST, 200 when every route has a live task) and
// reports the release applied only when every node answers 200. The group's firewall opens that
// port between the group's nodes (components/deployment-node/swarm-firewall.ts).
import { request } from "node:http";
import { NODE_LABEL } from "../../contract/swarm/names";
import { PROXY_READY_HOST, PROXY_READY_PATH, PROXY_SERVICE } from "../../contract/swarm/proxy";
import type { ApiNode, ApiService, ApiTask } from "./convergence";

/** A node running the environment's proxy, where its published port is reached. */
export interface ProxyTarget {
  /** berth's node id (its label), else the engine's hostname. */
  node: string;
  /** The address the node advertises to the swarm. */
  address: string;
}

/** The nodes with a running proxy task of `stack`, and their swarm addresses (pure). */
export function proxyTargets(input: {
  stack: string;
  services: readonly ApiService[];
  tasks: readonly ApiTask[];
  nodes: readonly ApiNode[];
}): ProxyTarget[] {
  const proxy = input.services.find((s) => s.Spec.Name === `${input.stack}_${PROXY_SERVICE}`);
  if (!proxy) return [];
  const ids = new Set(
    input.tasks
      .filter((t) => t.ServiceID === proxy.ID && t.DesiredState === "running" && t.Status.State === "running")
      .map((t) => t.NodeID),
  );
  // A node the swarm lost still lists its last tasks as running: only ready nodes are asked.
  return input.nodes
    .filter((n) => ids.has(n.ID) && (n.Status?.State ?? "ready") === "ready")
    .map((n) => ({
      node: n.Spec?.Labels?.[NODE_LABEL] ?? n.Description?.Hostname ?? n.ID,
      // A manager may show 0.0.0.0 as its own node address; its manager address says where it is.
      address:
        n.Status?.Addr && n.Status.Addr !== "0.0.0.0"
          ? n.Status.Addr
          : (n.ManagerStatus?.Addr?.replace(/:\d+$/, "") ?? ""),
    }))
    .sort((a, b) => a.node.localeCompare(b.node));
}

/** One node's answer: ready (200), or what it said instead. */
export interface ProxyAnswer extends ProxyTarget {
  ready: boolean;
  answer: string;
}

/** GET PROXY_READY_PATH of one node's proxy (bounded by `timeoutMs`). */
export function askProxy(target: ProxyTarget, port: number, timeoutMs: number): Promise<ProxyAnswer> {
  return new Promise((resolve) => {
    const done = (ready: boolean, answer: string) => resolve({ ...target, ready, answer });
    if (!target.address) {
      done(false, "the swarm knows no address of this node");
      return;
    }
    const req = request(
      {
        host: target.address,
        port,
        path: PROXY_READY_PATH,
        headers: { host: PROXY_READY_HOST },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode === 200, `HTTP ${res.statusCode}`));
        res.on("error", (e) => done(false, e.message));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (e) => done(false, e.message));
    req.end();
  });
}

/** Every target asked at once; the answers in the targets' order. */
export function askProxies(
  targets: readonly ProxyTarget[],
  port: number,
  timeoutMs = 2_000,
): Promise<ProxyAnswer[]> {
  return Promise.all(targets.map((t) => askProxy(t, port, timeoutMs)));
}

/** The nodes whose proxy is not ready, in words (for the status and `pulumi up`). */
export function describeUnready(answers: readonly ProxyAnswer[], port: number): string {
  const bad = answers.filter((a) => !a.ready);
  if (bad.length === 0) return "";
  return `${PROXY_SERVICE}: ${bad
    .map((a) => `on ${a.node} (${a.address || "?"}:${port}) ${a.answer}`)
    .join(
      "; ",
    )}: that node's proxy reaches no task of a route (503: the overlay between the nodes carries no traffic to the tasks, or they are not healthy; a connection error: the port is not reachable from the leader)`;
}
