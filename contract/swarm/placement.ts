// Where an environment runs: on one node (today's default, unchanged), or on a node group whose
// nodes form a Docker Swarm. The group is declared in the stack config (`berth:nodeGroups`):
//
//   berth:nodeGroups:
//     - name: web
//       nodes: [web-1, web-2, web-3]     # ids from berth:nodes
//       managers: [web-1]                # 1 or 3 of them; the rest are workers
//   berth:environments:
//     - name: shop
//       nodeGroup: web                   # instead of node:
//       volumes:
//         - { name: db, sizeGb: 10, node: web-2 }   # the group's node that holds the disk
//
// Pure: the schema and the cross checks return problems as (config path, message) pairs, so the
// stack config can name each key (`berth:nodeGroups[0].managers`) and say what to do.
import * as z from "zod";
import { ID_RULE, idSchema, isId } from "../ids";

/** Raft keeps a quorum with a majority of managers: 1 (no fault tolerance) or 3 (survives one loss). */
export const MANAGER_COUNTS = [1, 3] as const;

export const nodeGroupSchema = z
  .object({
    /** The group's id: names the swarm and the Pulumi resources of its nodes. */
    name: idSchema("it names the swarm"),
    /** The ids (berth:nodes[].id) of the nodes that form the swarm. */
    nodes: z.array(z.string().min(1)).min(1, "list the group's node ids (berth:nodes[].id)"),
    /** The nodes that are swarm managers: 1 or 3 of `nodes`. The first one initialises the swarm. */
    managers: z.array(z.string().min(1)),
    /**
     * The environments' proxy on every node of the group (contract/swarm/proxy.ts): an HAProxy
     * image (a tag, pinned by digest at each release) and the port it publishes on each node.
     */
    proxy: z
      .object({
        image: z.string().min(1),
        port: z.number().int().min(1024, "a port from 1024 to 65535").max(65535).default(18080),
      })
      .strict()
      .optional(),
  })
  .strict();
export type NodeGroup = z.infer<typeof nodeGroupSchema>;

/** What a placement check needs of the rest of the config. */
export interface PlacementInput {
  nodeIds: readonly string[];
  /** Where the nodes are declared (default berth:nodes; the local target's berth:localNodes). */
  nodesKey?: string;
  nodeGroups: readonly NodeGroup[];
  environments: readonly {
    node?: string | undefined;
    nodeGroup?: string | undefined;
    volumes: readonly { name: string; node?: string | undefined }[];
  }[];
}

export interface PlacementProblem {
  path: (string | number)[];
  message: string;
}

const list = (ids: readonly string[]) => ids.map((i) => JSON.stringify(i)).join(", ");

/** Cross checks of node groups and of environments placed on them. */
export function checkPlacement(c: PlacementInput): PlacementProblem[] {
  const problems: PlacementProblem[] = [];
  const add = (path: (string | number)[], message: string) => problems.push({ path, message });
  const nodeIds = new Set(c.nodeIds);
  const groupOf = new Map<string, string>();
  const groups = new Map<string, NodeGroup>();
  c.nodeGroups.forEach((g, i) => {
    if (groups.has(g.name)) add(["nodeGroups", i, "name"], `${JSON.stringify(g.name)} is declared twice`);
    groups.set(g.name, g);
    const seen = new Set<string>();
    g.nodes.forEach((n, j) => {
      if (seen.has(n)) add(["nodeGroups", i, "nodes", j], `${JSON.stringify(n)} is listed twice`);
      seen.add(n);
      if (!nodeIds.has(n))
        add(
          ["nodeGroups", i, "nodes", j],
          `${JSON.stringify(n)} is not a node; declare it in ${c.nodesKey ?? "berth:nodes"} or use one of ${list(c.nodeIds)}`,
        );
      const other = groupOf.get(n);
      if (other !== undefined && other !== g.name)
        add(
          ["nodeGroups", i, "nodes", j],
          `${JSON.stringify(n)} is already in node group ${JSON.stringify(other)}: a Docker Engine belongs to one swarm`,
        );
      groupOf.set(n, g.name);
    });
    if (!(MANAGER_COUNTS as readonly number[]).includes(g.managers.length))
      add(
        ["nodeGroups", i, "managers"],
        `${g.managers.length} manager${g.managers.length === 1 ? "" : "s"}: list 1 or 3 of the group's nodes (a swarm keeps its quorum with a majority of its managers: 1, or 3 to survive losing one)`,
      );
    const seenManagers = new Set<string>();
    g.managers.forEach((m, j) => {
      if (seenManagers.has(m)) add(["nodeGroups", i, "managers", j], `${JSON.stringify(m)} is listed twice`);
      seenManagers.add(m);
      if (!seen.has(m))
        add(
          ["nodeGroups", i, "managers", j],
          `${JSON.stringify(m)} is not in this group's nodes; use one of ${list(g.nodes)}`,
        );
    });
  });
  c.environments.forEach((e, i) => {
    if (e.nodeGroup === undefined) {
      e.volumes.forEach((v, j) => {
        if (v.node !== undefined)
          add(
            ["environments", i, "volumes", j, "node"],
            "only for an environment on a node group (on one node, that node holds every volume): remove it",
          );
      });
      return;
    }
    if (e.node !== undefined)
      add(
        ["environments", i, "node"],
        "an environment runs on a node or on a node group: remove node or nodeGroup",
      );
    const g = groups.get(e.nodeGroup);
    if (g === undefined) {
      add(
        ["environments", i, "nodeGroup"],
        `${JSON.stringify(e.nodeGroup)} is not a node group; ${c.nodeGroups.length > 0 ? `use one of ${list(c.nodeGroups.map((x) => x.name))}` : "declare it in berth:nodeGroups"}`,
      );
      return;
    }
    e.volumes.forEach((v, j) => {
      if (v.node === undefined)
        add(
          ["environments", i, "volumes", j, "node"],
          `missing: the node of group ${JSON.stringify(g.name)} that holds the volume's disk (its services are pinned there); use one of ${list(g.nodes)}`,
        );
      else if (!g.nodes.includes(v.node))
        add(
          ["environments", i, "volumes", j, "node"],
          `${JSON.stringify(v.node)} is not in node group ${JSON.stringify(g.name)}; use one of ${list(g.nodes)}`,
        );
    });
  });
  return problems;
}

/** The swarm's roles, as the agents that form it need them: who initialises, who joins as what. */
export interface SwarmRoles {
  group: string;
  /** The manager that initialises the swarm (the first of `managers`). */
  leader: string;
  managers: string[];
  workers: string[];
}

export function swarmRoles(g: NodeGroup): SwarmRoles {
  if (!isId(g.name)) throw new Error(`node group ${JSON.stringify(g.name)}: ${ID_RULE}`);
  const [leader] = g.managers;
  if (leader === undefined) throw new Error(`node group ${g.name}: no manager`);
  return {
    group: g.name,
    leader,
    managers: [...g.managers],
    workers: g.nodes.filter((n) => !g.managers.includes(n)),
  };
}
