// Has a stack converged? A pure reading of what the Docker Engine API says about the stack's
// services, tasks and nodes (`docker inspect` prints the API's objects): every service at its
// declared replicas, each counted task running (Swarm reports a task with a health check as
// running only once it is healthy) and no update in flight. Otherwise it names, per service,
// what is wrong and on which node: the update Swarm rolled back or paused, the newest failed
// task's error.
import * as z from "zod";
import { NODE_LABEL } from "../../contract/swarm/names";

const apiService = z.looseObject({
  ID: z.string(),
  Spec: z.looseObject({
    Name: z.string(),
    Mode: z.looseObject({ Replicated: z.looseObject({ Replicas: z.number().int() }).optional() }).optional(),
  }),
  UpdateStatus: z.looseObject({ State: z.string().optional(), Message: z.string().optional() }).optional(),
});
const apiTask = z.looseObject({
  ID: z.string(),
  ServiceID: z.string(),
  NodeID: z.string().optional(),
  DesiredState: z.string(),
  CreatedAt: z.string().optional(),
  UpdatedAt: z.string().optional(),
  Status: z.looseObject({ State: z.string(), Err: z.string().optional(), Message: z.string().optional() }),
});
const apiNode = z.looseObject({
  ID: z.string(),
  Description: z.looseObject({ Hostname: z.string().optional() }).optional(),
  Spec: z
    .looseObject({ Labels: z.record(z.string(), z.string()).optional(), Availability: z.string().optional() })
    .optional(),
  Status: z.looseObject({ State: z.string().optional(), Addr: z.string().optional() }).optional(),
  ManagerStatus: z.looseObject({ Addr: z.string().optional() }).optional(),
});
export type ApiService = z.infer<typeof apiService>;
export type ApiTask = z.infer<typeof apiTask>;
export type ApiNode = z.infer<typeof apiNode>;

export const parseServices = (v: unknown) => z.array(apiService).parse(v);
export const parseTasks = (v: unknown) => z.array(apiTask).parse(v);
export const parseNodes = (v: unknown) => z.array(apiNode).parse(v);

export interface ServiceState {
  service: string;
  desired: number;
  running: number;
  /** The nodes its running tasks are on (berth node ids where labelled, else hostnames), sorted. */
  nodes: string[];
  state: "converged" | "progressing" | "failed";
  /** Why it is not converged: the update's message, the newest failed task's error. */
  reason?: string;
  /** The node of the newest failed task. */
  node?: string;
}

export interface StackState {
  converged: boolean;
  failed: boolean;
  /** No update or rollback in flight: a failed stack has finished rolling back. */
  settled: boolean;
  services: ServiceState[];
}

/** Update states in which Swarm gave up on the new spec: the release failed. */
const FAILED_UPDATES = new Set(["paused", "rollback_started", "rollback_paused", "rollback_completed"]);
const FAILED_TASKS = new Set(["failed", "rejected"]);

export function assessStack(input: {
  stack: string;
  /** Declared replicas per service (the rendered stack's x-berth.replicas). */
  replicas: Record<string, number>;
  /**
   * Global services (the environment's proxy): one task on every node that may run one, i.e.
   * every node ready and active; a node that is down or drained is not counted.
   */
  global?: readonly string[];
  services: readonly ApiService[];
  tasks: readonly ApiTask[];
  nodes: readonly ApiNode[];
}): StackState {
  const nodeName = (id: string | undefined) => {
    const n = input.nodes.find((x) => x.ID === id);
    return n?.Spec?.Labels?.[NODE_LABEL] ?? n?.Description?.Hostname ?? id ?? "(unassigned)";
  };
  const eligible = input.nodes.filter(
    (n) => (n.Status?.State ?? "ready") === "ready" && (n.Spec?.Availability ?? "active") === "active",
  ).length;
  const desiredOf: Record<string, number> = { ...input.replicas };
  for (const g of input.global ?? []) desiredOf[g] = eligible;
  const services = Object.entries(desiredOf)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, desired]): ServiceState => {
      const api = input.services.find((s) => s.Spec.Name === `${input.stack}_${service}`);
      if (!api)
        return { service, desired, running: 0, nodes: [], state: "progressing", reason: "not created yet" };
      const tasks = input.tasks.filter((t) => t.ServiceID === api.ID);
      const running = tasks.filter((t) => t.DesiredState === "running" && t.Status.State === "running");
      const waiting = tasks.filter((t) => t.DesiredState === "running" && t.Status.State !== "running");
      const failedTask = tasks
        .filter((t) => FAILED_TASKS.has(t.Status.State))
        .sort((a, b) =>
          (b.UpdatedAt ?? b.CreatedAt ?? "").localeCompare(a.UpdatedAt ?? a.CreatedAt ?? ""),
        )[0];
      const taskError = failedTask
        ? `task ${failedTask.Status.State}: ${failedTask.Status.Err ?? failedTask.Status.Message ?? "no message"}`
        : undefined;
      const base = {
        service,
        desired,
        running: running.length,
        nodes: [...new Set(running.map((t) => nodeName(t.NodeID)))].sort(),
      };
      const where = failedTask ? { node: nodeName(failedTask.NodeID) } : {};
      const update = api.UpdateStatus?.State;
      if (update && FAILED_UPDATES.has(update))
        return {
          ...base,
          state: "failed",
          reason: [`update ${update.replace("_", " ")}`, api.UpdateStatus?.Message, taskError]
            .filter(Boolean)
            .join(": "),
          ...where,
        };
      if (
        running.length === desired &&
        waiting.length === 0 &&
        (update === undefined || update === "completed")
      )
        return { ...base, state: "converged" };
      const reason =
        update === "updating"
          ? "update in progress"
          : `${running.length} of ${desired} running${waiting.length > 0 ? `, ${waiting.length} starting` : ""}`;
      return {
        ...base,
        state: "progressing",
        reason: taskError ? `${reason}; ${taskError}` : reason,
        ...where,
      };
    });
  const moving = new Set(["updating", "rollback_started"]);
  return {
    converged: services.every((s) => s.state === "converged"),
    failed: services.some((s) => s.state === "failed"),
    settled: !input.services.some((s) => moving.has(s.UpdateStatus?.State ?? "")),
    services,
  };
}

/** One line per service that is not converged: `web: update rollback completed: … (on web-2)`. */
export function describeStack(s: StackState): string {
  return s.services
    .filter((x) => x.state !== "converged")
    .map((x) => `${x.service}: ${x.reason ?? x.state}${x.node ? ` (on ${x.node})` : ""}`)
    .join("; ");
}
