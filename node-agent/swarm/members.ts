// What the leading manager does to make the swarm match the program's membership, as data
// (pure): label each member's swarm node `berth.node=<id>` (placement constraints select on it),
// write a join offer for each member not in the swarm (a new or replaced node), promote or demote
// a member whose role changed, and remove what the membership no longer holds: a node whose
// hostname is no member (a node taken out of the group), or a node that is down while a ready
// node of the same hostname has joined (the machine the program replaced). A member that is down
// with no successor stays: it may come back, and only the program says it is gone.
import type { Membership } from "../../contract/swarm/membership";

/** One line of `docker node ls` (ID, hostname, status, manager status). */
export interface SwarmNodeRow {
  id: string;
  hostname: string;
  /** Ready, Down, Unknown, Disconnected */
  status: string;
  /** Leader, Reachable, Unreachable, or "" for a worker. */
  managerStatus: string;
}

export interface MemberPlan {
  label: { swarmId: string; nodeId: string }[];
  /** Members to write a join offer for (not in the swarm, or only as a down node). */
  offers: string[];
  promote: string[];
  demote: string[];
  /** Swarm node ids to remove, each with why; a manager among them is demoted first. */
  remove: { swarmId: string; hostname: string; manager: boolean; why: string }[];
}

/** `docker node ls --format` that parseNodeRows reads. */
export const NODE_ROW_FORMAT = "{{.ID}}\t{{.Hostname}}\t{{.Status}}\t{{.ManagerStatus}}";

export function parseNodeRows(stdout: string): SwarmNodeRow[] {
  return stdout
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [id = "", hostname = "", status = "", managerStatus = ""] = l.split("\t");
      return {
        id: id.trim(),
        hostname: hostname.trim(),
        status: status.trim(),
        managerStatus: managerStatus.trim(),
      };
    });
}

export function planMembers(rows: readonly SwarmNodeRow[], m: Membership, selfSwarmId: string): MemberPlan {
  const plan: MemberPlan = { label: [], offers: [], promote: [], demote: [], remove: [] };
  const members = new Map(m.members.map((x) => [x.nodeId, x]));
  const readyByHost = new Map<string, SwarmNodeRow>();
  for (const r of rows) if (r.status === "Ready") readyByHost.set(r.hostname, r);
  for (const r of rows) {
    if (r.id === selfSwarmId) continue;
    const manager = r.managerStatus !== "";
    if (!members.has(r.hostname)) {
      plan.remove.push({
        swarmId: r.id,
        hostname: r.hostname,
        manager,
        why: `${r.hostname} is not a member of node group ${m.group} (generation ${m.generation})`,
      });
    } else if (r.status !== "Ready" && readyByHost.has(r.hostname)) {
      plan.remove.push({
        swarmId: r.id,
        hostname: r.hostname,
        manager,
        why: `${r.hostname} was replaced: this engine is ${r.status.toLowerCase()} and a new one has joined`,
      });
    }
  }
  for (const x of m.members) {
    const row = readyByHost.get(x.nodeId);
    if (!row) {
      if (x.nodeId !== m.leader) plan.offers.push(x.nodeId);
      continue;
    }
    plan.label.push({ swarmId: row.id, nodeId: x.nodeId });
    if (row.id === selfSwarmId) continue;
    const isManager = row.managerStatus !== "";
    if (x.role === "manager" && !isManager) plan.promote.push(row.id);
    if (x.role === "worker" && isManager) plan.demote.push(row.id);
  }
  return plan;
}
