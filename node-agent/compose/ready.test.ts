import { describe, expect, it } from "vitest";
import { type ContainerStatus, composeReady } from "./ready";

const c = (
  service: string,
  State: string,
  Status: string,
  extra: Record<string, string> = {},
): ContainerStatus => ({
  Labels: { "com.docker.compose.project": "p", "com.docker.compose.service": service, ...extra },
  State,
  Status,
});
const q = (o: { replicas?: Record<string, number>; checked?: string[] } = {}) => ({
  project: "p",
  services: ["store", "web", "worker"],
  replicas: (s: string) => o.replicas?.[s] ?? 1,
  checked: (s: string) => (o.checked ?? ["store", "web"]).includes(s),
});

describe("composeReady", () => {
  it("is true once every service runs, healthy where it has a healthcheck", () => {
    expect(
      composeReady(
        [
          c("store", "running", "Up 2 seconds (healthy)"),
          c("web", "running", "Up 1 second (healthy)"),
          c("worker", "running", "Up 1 second"),
        ],
        q(),
      ),
    ).toBe(true);
  });

  it("is false while a healthcheck has not passed, or has failed", () => {
    const store = c("store", "running", "Up 2 seconds (healthy)");
    const worker = c("worker", "running", "Up 1 second");
    expect(composeReady([store, c("web", "running", "Up 1 second (health: starting)"), worker], q())).toBe(
      false,
    );
    expect(composeReady([store, c("web", "running", "Up 9 seconds (unhealthy)"), worker], q())).toBe(false);
  });

  it("is false while a service has no container yet, or one is only created, exited or restarting", () => {
    const store = c("store", "running", "Up 2 seconds (healthy)");
    const web = c("web", "running", "Up 1 second (healthy)");
    expect(composeReady([store, web], q())).toBe(false);
    expect(composeReady([store, web, c("worker", "created", "Created")], q())).toBe(false);
    expect(composeReady([store, web, c("worker", "exited", "Exited (1) 1 second ago")], q())).toBe(false);
    expect(composeReady([store, web, c("worker", "restarting", "Restarting (1) 1 second ago")], q())).toBe(
      false,
    );
  });

  it("counts every replica, and neither one-offs nor other projects' containers", () => {
    const store = c("store", "running", "Up 2 seconds (healthy)");
    const worker = c("worker", "running", "Up 1 second");
    const web1 = c("web", "running", "Up 1 second (healthy)", { "com.docker.compose.container-number": "1" });
    const web2 = c("web", "running", "Up 1 second (health: starting)", {
      "com.docker.compose.container-number": "2",
    });
    expect(composeReady([store, worker, web1, web2], q({ replicas: { web: 2 } }))).toBe(false);
    expect(composeReady([store, worker, web1], q({ replicas: { web: 2 } }))).toBe(false);
    const oneOff = c("worker", "running", "Up 1 second", { "com.docker.compose.oneoff": "True" });
    expect(composeReady([store, web1, oneOff], q())).toBe(false);
    const elsewhere = { ...worker, Labels: { ...worker.Labels, "com.docker.compose.project": "other" } };
    expect(composeReady([store, web1, elsewhere], q())).toBe(false);
  });

  it("a service without a healthcheck only has to run", () => {
    expect(
      composeReady(
        [
          c("store", "running", "Up 1 second (health: starting)"),
          c("web", "running", "Up 1 second"),
          c("worker", "running", "Up 1 second"),
        ],
        q({ checked: [] }),
      ),
    ).toBe(true);
  });
});
