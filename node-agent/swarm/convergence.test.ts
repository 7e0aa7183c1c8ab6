import { describe, expect, it } from "vitest";
import { type ApiNode, type ApiService, type ApiTask, assessStack, describeStack } from "./convergence";

const nodes: ApiNode[] = [
  { ID: "n1", Description: { Hostname: "h1" }, Spec: { Labels: { "berth.node": "web-1" } } },
  { ID: "n2", Description: { Hostname: "h2" }, Spec: { Labels: { "berth.node": "web-2" } } },
  { ID: "n3", Description: { Hostname: "h3" }, Spec: {} },
];
const service = (id: string, name: string, update?: ApiService["UpdateStatus"]): ApiService => ({
  ID: id,
  Spec: { Name: `berth-shop_${name}` },
  ...(update ? { UpdateStatus: update } : {}),
});
let n = 0;
const task = (
  svc: string,
  node: string,
  desired: string,
  state: string,
  err?: string,
  at = "2026-12-06T10:00:00Z",
): ApiTask => ({
  ID: `t${++n}`,
  ServiceID: svc,
  NodeID: node,
  DesiredState: desired,
  UpdatedAt: at,
  Status: { State: state, ...(err ? { Err: err } : {}) },
});
const assess = (services: ApiService[], tasks: ApiTask[], replicas: Record<string, number> = { web: 3 }) =>
  assessStack({ stack: "berth-shop", replicas, services, tasks, nodes });

describe("assessStack", () => {
  it("converged: every replica running, no update in flight; names the nodes by berth id", () => {
    const s = assess(
      [service("s1", "web", { State: "completed" })],
      [
        task("s1", "n1", "running", "running"),
        task("s1", "n2", "running", "running"),
        task("s1", "n3", "running", "running"),
        task("s1", "n1", "shutdown", "shutdown"),
      ],
    );
    expect(s).toEqual({
      converged: true,
      failed: false,
      settled: true,
      services: [
        { service: "web", desired: 3, running: 3, nodes: ["h3", "web-1", "web-2"], state: "converged" },
      ],
    });
  });

  it("progressing: a task still starting (health check not yet passed), a missing service, an update in flight", () => {
    const s = assess(
      [service("s1", "web")],
      [
        task("s1", "n1", "running", "running"),
        task("s1", "n2", "running", "running"),
        task("s1", "n3", "running", "starting"),
      ],
      { web: 3, db: 1 },
    );
    expect(s.converged).toBe(false);
    expect(s.failed).toBe(false);
    expect(describeStack(s)).toBe("db: not created yet; web: 2 of 3 running, 1 starting");
    const u = assess(
      [service("s1", "web", { State: "updating" })],
      [1, 2, 3].map(() => task("s1", "n1", "running", "running")),
    );
    expect(describeStack(u)).toBe("web: update in progress");
    expect(u.settled).toBe(false);
  });

  it("failed: a rolled-back update names the service, Swarm's message, the task's error and its node", () => {
    const s = assess(
      [service("s1", "web", { State: "rollback_completed", Message: "rollback completed" })],
      [
        task("s1", "n1", "running", "running"),
        task(
          "s1",
          "n2",
          "shutdown",
          "failed",
          "task: non-zero exit (1): dockerexec: unhealthy container",
          "2026-12-06T10:01:00Z",
        ),
        task("s1", "n3", "shutdown", "failed", "older failure", "2026-12-06T10:00:30Z"),
      ],
      { web: 1 },
    );
    expect(s.failed).toBe(true);
    expect(s.settled).toBe(true);
    expect(s.services[0]).toMatchObject({ state: "failed", node: "web-2" });
    const rolling = assess([service("s1", "web", { State: "rollback_started" })], [], { web: 1 });
    expect(rolling).toMatchObject({ failed: true, settled: false });
    expect(describeStack(s)).toBe(
      "web: update rollback completed: rollback completed: task failed: task: non-zero exit (1): dockerexec: unhealthy container (on web-2)",
    );
  });

  it("a first deploy whose tasks keep failing stays progressing, with the newest error and node (the caller's bound decides)", () => {
    const s = assess(
      [service("s1", "web")],
      [
        task("s1", "n2", "shutdown", "rejected", "No such image: x"),
        task("s1", "n1", "running", "preparing"),
      ],
      {
        web: 1,
      },
    );
    expect(s.failed).toBe(false);
    expect(describeStack(s)).toBe(
      "web: 0 of 1 running, 1 starting; task rejected: No such image: x (on web-2)",
    );
  });

  it("the environment's proxy (global) counts on every ready, active node: applied only once it runs on each", () => {
    const proxy = service("s9", "berth-proxy");
    const web = service("s1", "web", { State: "completed" });
    const webTasks = ["n1", "n2", "n3"].map((nd) => task("s1", nd, "running", "running"));
    const on = (ids: string[]) => ids.map((nd) => task("s9", nd, "running", "running"));
    const withProxy = (tasks: ApiTask[], ns: ApiNode[] = nodes) =>
      assessStack({
        stack: "berth-shop",
        replicas: { web: 3 },
        global: ["berth-proxy"],
        services: [web, proxy],
        tasks: [...webTasks, ...tasks],
        nodes: ns,
      });
    const short = withProxy([...on(["n1", "n2"]), task("s9", "n3", "running", "starting")]);
    expect(short.converged).toBe(false);
    expect(describeStack(short)).toBe("berth-proxy: 2 of 3 running, 1 starting");
    expect(withProxy(on(["n1", "n2", "n3"])).converged).toBe(true);
    // A node that is down (or drained) is not counted.
    const down = nodes.map((x) => (x.ID === "n3" ? { ...x, Status: { State: "down" } } : x));
    expect(withProxy(on(["n1", "n2"]), down)).toMatchObject({
      converged: true,
      services: [{ service: "berth-proxy", desired: 2, running: 2 }, { service: "web" }],
    });
  });
});
