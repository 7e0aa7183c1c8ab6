import { describe, expect, it } from "vitest";
import { checkPlacement, nodeGroupSchema, type PlacementInput, swarmRoles } from "./placement";

const nodeIds = ["web-1", "web-2", "web-3", "db-1"];
const group = { name: "web", nodes: ["web-1", "web-2", "web-3"], managers: ["web-1"] };
const input = (patch: Partial<PlacementInput> = {}): PlacementInput => ({
  nodeIds,
  nodeGroups: [group],
  environments: [{ nodeGroup: "web", volumes: [{ name: "db", node: "web-2" }] }],
  ...patch,
});
const messages = (c: PlacementInput) => checkPlacement(c).map((p) => `${p.path.join(".")}: ${p.message}`);

describe("node groups", () => {
  it("accepts a group of 1 manager and 2 workers, and one of 3 managers", () => {
    expect(checkPlacement(input())).toEqual([]);
    expect(
      checkPlacement(input({ nodeGroups: [{ ...group, managers: ["web-1", "web-2", "web-3"] }] })),
    ).toEqual([]);
    expect(swarmRoles(group)).toEqual({
      group: "web",
      leader: "web-1",
      managers: ["web-1"],
      workers: ["web-2", "web-3"],
    });
  });

  it("keeps today's single node unchanged: an environment on a node needs no group", () => {
    expect(
      checkPlacement({
        nodeIds,
        nodeGroups: [],
        environments: [{ node: "web-1", volumes: [{ name: "db" }] }],
      }),
    ).toEqual([]);
  });

  it("refuses 2 managers, saying why 1 or 3", () => {
    expect(messages(input({ nodeGroups: [{ ...group, managers: ["web-1", "web-2"] }] }))).toEqual([
      "nodeGroups.0.managers: 2 managers: list 1 or 3 of the group's nodes (a swarm keeps its quorum with a majority of its managers: 1, or 3 to survive losing one)",
    ]);
    expect(messages(input({ nodeGroups: [{ ...group, managers: [] }] }))[0]).toMatch(
      /^nodeGroups\.0\.managers: 0 managers/,
    );
  });

  it("names a manager outside the group, an unknown node, a node listed twice or in two groups", () => {
    expect(
      messages(
        input({
          nodeGroups: [
            { name: "web", nodes: ["web-1", "web-9", "web-1"], managers: ["db-1"] },
            { name: "other", nodes: ["web-1"], managers: ["web-1"] },
          ],
          environments: [],
        }),
      ),
    ).toEqual([
      'nodeGroups.0.nodes.1: "web-9" is not a node; declare it in berth:nodes or use one of "web-1", "web-2", "web-3", "db-1"',
      'nodeGroups.0.nodes.2: "web-1" is listed twice',
      'nodeGroups.0.managers.0: "db-1" is not in this group\'s nodes; use one of "web-1", "web-9", "web-1"',
      'nodeGroups.1.nodes.0: "web-1" is already in node group "web": a Docker Engine belongs to one swarm',
    ]);
  });

  it("places an environment on a node or a group, never both, and pins each volume to a node of its group", () => {
    expect(
      messages(
        input({
          environments: [
            { node: "web-1", nodeGroup: "web", volumes: [{ name: "db" }, { name: "files", node: "db-1" }] },
            { nodeGroup: "nope", volumes: [] },
            { node: "web-1", volumes: [{ name: "db", node: "web-2" }] },
          ],
        }),
      ),
    ).toEqual([
      "environments.0.node: an environment runs on a node or on a node group: remove node or nodeGroup",
      'environments.0.volumes.0.node: missing: the node of group "web" that holds the volume\'s disk (its services are pinned there); use one of "web-1", "web-2", "web-3"',
      'environments.0.volumes.1.node: "db-1" is not in node group "web"; use one of "web-1", "web-2", "web-3"',
      'environments.1.nodeGroup: "nope" is not a node group; use one of "web"',
      "environments.2.volumes.0.node: only for an environment on a node group (on one node, that node holds every volume): remove it",
    ]);
  });

  it("the schema names its fields", () => {
    const r = nodeGroupSchema.safeParse({ name: "Web Group", nodes: [], managers: ["a"], extra: 1 });
    expect(r.success).toBe(false);
    const issues = r.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    expect(issues.join("\n")).toMatch(/name: use 1-63 lowercase letters/);
    expect(issues.join("\n")).toMatch(/nodes: list the group's node ids/);
  });
});
