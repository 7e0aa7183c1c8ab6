import { describe, expect, it } from "vitest";
import { loadCompose } from "../../contract/compose/load";
import { renderNodeCompose } from "../../contract/render/node-compose";
import { parseContainerStates } from "../compose/commands";
import { releaseOf } from "../state/release";
import { keepable, type PlacedRelease, strayContainers, unchangedServices } from "./placement";
import { planApply } from "./plan";

const IMAGE = (c: string) => `registry.test/app@sha256:${c.repeat(64)}`;

function placed(
  seq: number,
  o: { webImage?: string; workerEnv?: string; token?: string; config?: string } = {},
): PlacedRelease {
  const loaded = loadCompose(
    `
services:
  web:
    image: web
    configs: [app]
    x-berth-health: { path: /health, port: 8080 }
  worker:
    image: worker
    environment:
      LEVEL: "${o.workerEnv ?? "1"}"
      TOKEN: { x-berth-secret: token }
  store:
    image: store
    volumes: [data:/data]
volumes:
  data: {}
configs:
  app:
    content: "${o.config ?? "a=1"}"
x-berth-routes:
  - { service: web, port: 8080, host: app.test }
`,
    { file: "compose.yaml" },
  );
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const m = loaded.manifest;
  const r = renderNodeCompose(m, {
    environmentId: "prod",
    sequence: seq,
    images: { web: o.webImage ?? IMAGE("a"), worker: IMAGE("b"), store: IMAGE("c") },
  });
  const release = releaseOf({ compose: { text: r.text } } as Parameters<typeof releaseOf>[0], "");
  const token = o.token ?? "t1";
  return {
    document: release.document,
    extras: release.extras,
    env: { [release.extras.secrets.token as string]: token, BERTH_FILES_DIR: "/run/berth-files/n/prod" },
    secrets: { token },
  };
}

describe("unchangedServices", () => {
  it("a web-only change leaves the worker alone, though every start-first label names the release", () => {
    expect([...unchangedServices(placed(1), placed(2, { webImage: IMAGE("d") }))]).toEqual(["worker"]);
  });

  it("the same release again changes nothing", () => {
    expect([...unchangedServices(placed(3), placed(3))].sort()).toEqual(["web", "worker"]);
  });

  it("a changed environment value, secret value or config file content changes the service", () => {
    expect(unchangedServices(placed(1), placed(2, { workerEnv: "2" })).has("worker")).toBe(false);
    // The worker reads the token through a variable Compose interpolates: same text, new value.
    expect(unchangedServices(placed(1), placed(2, { token: "t2" })).has("worker")).toBe(false);
    expect(unchangedServices(placed(1), placed(2, { token: "t2" })).has("web")).toBe(true);
    expect(unchangedServices(placed(1), placed(2, { config: "a=2" })).has("web")).toBe(false);
  });

  it("stop-first services are never in it (the long-lived project handles them)", () => {
    expect(unchangedServices(placed(1), placed(2)).has("store")).toBe(false);
  });
});

describe("keepable and planApply", () => {
  const projects = planApply(placed(1).extras).projectOf;
  const ps = (lines: string[]) => parseContainerStates(lines.join("\n"));

  it("keeps an unchanged service only while its containers run and are not unhealthy", () => {
    const one = () => 1;
    const up = ps(["berth_prod_r1\tworker\trunning\tUp 3 minutes"]);
    expect([...keepable(new Set(["worker"]), projects, up, one)]).toEqual(["worker"]);
    const sick = ps(["berth_prod_r1\tworker\trunning\tUp 3 minutes (unhealthy)"]);
    expect(keepable(new Set(["worker"]), projects, sick, one).size).toBe(0);
    const gone = ps(["berth_prod_r1\tworker\texited\tExited (1) 2 seconds ago"]);
    expect(keepable(new Set(["worker"]), projects, gone, one).size).toBe(0);
    expect(keepable(new Set(["worker"]), projects, up, () => 2).size).toBe(0);
  });

  it("a kept service stays in its project; the rest start in the release's", () => {
    const plan = planApply(placed(2).extras, { services: new Set(["worker"]), projects });
    expect(plan.kept).toEqual(["worker"]);
    expect(plan.stateless).toEqual({ project: "berth_prod_r2", services: ["web"] });
    expect(plan.projectOf).toEqual({ store: "berth_prod", web: "berth_prod_r2", worker: "berth_prod_r1" });
  });
});

describe("strayContainers", () => {
  const ps = [
    "a\tberth_prod\t\tstore\trunning",
    "b\tberth_prod_r1\t1\tworker\trunning",
    "c\tberth_prod_r1\t1\tweb\trunning",
    "d\tberth_prod_r2\t2\tweb\trunning",
    "e\tberth_prod_run\t\tweb\trunning",
    "f\tberth_prod\t\tweb\trunning",
    "g\tberth_prod\t\tgone\texited",
  ].join("\n");

  it("keeps what the current release runs where it runs it, and a dropped stop-first service", () => {
    const projects = { store: "berth_prod", worker: "berth_prod_r1", web: "berth_prod_r2" };
    expect(strayContainers("prod", projects, ps)).toEqual(["c", "f"]);
  });

  it("with no current release, every container of the environment's projects (not one-offs)", () => {
    expect(strayContainers("prod", undefined, ps)).toEqual(["a", "b", "c", "d", "f", "g"]);
  });
});
