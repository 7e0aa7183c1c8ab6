import { describe, expect, it } from "vitest";
import * as c from "./commands";

const t = { project: "berth-prod-7", file: "/var/lib/berth/environments/prod/releases/7/compose.yaml" };

describe("compose commands", () => {
  it("brings services up detached, waiting for health, never pulling implicitly", () => {
    expect(c.up(t, ["web"], { waitTimeoutSeconds: 60, noDeps: true }).args).toEqual([
      "compose",
      "--project-name",
      "berth-prod-7",
      "--file",
      t.file,
      "up",
      "--detach",
      "--wait",
      "--wait-timeout",
      "60",
      "--pull",
      "never",
      "--no-deps",
      "web",
    ]);
  });

  it("starts without --wait when no service needs Compose to wait for a healthcheck", () => {
    const args = c.up(t, ["web"], { noDeps: true }).args;
    expect(args).not.toContain("--wait");
    expect(args).not.toContain("--wait-timeout");
    expect(args.slice(5)).toEqual(["up", "--detach", "--pull", "never", "--no-deps", "web"]);
  });

  it("tears a project down without touching named volumes", () => {
    const cmd = c.down(t.project, 10);
    expect(cmd.args).not.toContain("--file");
    expect(cmd.args).toContain("down");
    expect(cmd.args).not.toContain("--volumes");
    expect(cmd.args).not.toContain("-v");
  });

  it("finds every container of an environment by label", () => {
    expect(c.containersOfEnvironment("prod").args).toContain("label=berth.environment=prod");
  });

  it("parses the address docker compose port prints", () => {
    expect(c.parsePortOutput("127.0.0.1:49153\n")).toEqual({ host: "127.0.0.1", port: 49153 });
    expect(c.parsePortOutput("0.0.0.0:8080")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(c.parsePortOutput("[::1]:8080")).toEqual({ host: "::1", port: 8080 });
    expect(() => c.parsePortOutput("")).toThrow(/unexpected output/);
  });

  it("checks that pinned images are present (and their healthchecks) without asking a registry", () => {
    expect(c.inspectImages(["r/a@sha256:1", "r/b@sha256:2"]).args).toEqual([
      "image",
      "inspect",
      "--format",
      "{{json .Config.Healthcheck}}",
      "r/a@sha256:1",
      "r/b@sha256:2",
    ]);
  });

  it("reads an environment's container states and health from one docker ps", () => {
    expect(c.containerStates("prod").args).toContain("label=berth.environment=prod");
    const out = [
      "berth_prod\tstore\trunning\tUp 3 seconds (healthy)",
      "berth_prod_r7\tweb\trunning\tUp 1 second (health: starting)",
      "berth_prod_r6\tweb\texited\tExited (137) 2 seconds ago",
      "",
    ].join("\n");
    expect(c.parseContainerStates(out)).toEqual([
      { project: "berth_prod", service: "store", state: "running", health: "healthy" },
      { project: "berth_prod_r7", service: "web", state: "running", health: "starting" },
      { project: "berth_prod_r6", service: "web", state: "exited" },
    ]);
  });

  it("reads Compose's config hash of each service, as `up` compares it", () => {
    expect(c.configHash(t, ["store", "cache"]).args.slice(-3)).toEqual(["config", "--hash", "store,cache"]);
    const hash = "13762a513bdeecd669d192208db3db82e567505d008b0375f3d7a4d9eef6bd38";
    expect(c.parseConfigHashes(`store ${hash}\nwarning: something\n`)).toEqual({ store: hash });
    const line = `berth_prod\tstore\trunning\tUp 1 minute\t${hash}`;
    expect(c.parseContainerStates(line)).toEqual([
      { project: "berth_prod", service: "store", state: "running", configHash: hash },
    ]);
  });

  it("reads which images carry a healthcheck of their own", () => {
    const images = ["a@sha256:1", "b@sha256:2", "c@sha256:3"];
    const out = 'null\n{"Test":["CMD-SHELL","curl -f localhost"],"Interval":1000000000}\n{"Test":["NONE"]}\n';
    expect(c.parseImageHealthchecks(images, out)).toEqual(
      new Map([
        ["a@sha256:1", false],
        ["b@sha256:2", true],
        ["c@sha256:3", false],
      ]),
    );
    // One image missing: its line is absent, so nothing is known.
    expect(c.parseImageHealthchecks(images, "null\nnull\n")).toBeUndefined();
  });

  it("makes an environment's networks and bound volumes, internal networks with --internal", () => {
    expect(c.networkExists("berth-prod-default").args).toEqual([
      "network",
      "inspect",
      "--format",
      "{{.Name}}",
      "berth-prod-default",
    ]);
    expect(c.createNetwork("berth-prod-db", "prod", { internal: true }).args).toEqual([
      "network",
      "create",
      "--driver",
      "bridge",
      "--label",
      "berth.environment=prod",
      "--internal",
      "berth-prod-db",
    ]);
    expect(c.createNetwork("berth-prod-default", "prod").args).not.toContain("--internal");
    expect(c.removeNetwork("berth-prod-db")).toEqual({
      file: "docker",
      args: ["network", "rm", "berth-prod-db"],
    });
    expect(c.createBoundVolume("berth-prod-data", "/v/prod/data/data", "prod").args).toEqual([
      "volume",
      "create",
      "--driver",
      "local",
      "--opt",
      "type=none",
      "--opt",
      "o=bind",
      "--opt",
      "device=/v/prod/data/data",
      "--label",
      "berth.environment=prod",
      "berth-prod-data",
    ]);
  });

  it("reads each container's service, state, last start and exit code with two docker calls, no Compose", () => {
    expect(c.projectContainers("berth_prod_r7").args).toEqual([
      "ps",
      "--all",
      "--no-trunc",
      "--filter",
      "label=com.docker.compose.project=berth_prod_r7",
      "--format",
      '{{.ID}}\t{{.Label "com.docker.compose.service"}}',
    ]);
    expect(c.containerRuns(["a1", "b2"]).args.slice(-2)).toEqual(["a1", "b2"]);
    const runs = c.parseContainerRuns(
      "a1\tworker\nb2\tweb\n",
      "a1\trunning\t2026-12-06T11:00:01.123456789Z\t0\tunless-stopped\nb2\texited\t2026-12-06T11:00:00Z\t3\t\nzz\trunning\t2026-12-06T11:00:00Z\t0\tno\n",
    );
    expect(runs).toEqual([
      {
        service: "worker",
        state: "running",
        startedAt: Date.parse("2026-12-06T11:00:01.123Z"),
        exitCode: 0,
        restartPolicy: "unless-stopped",
      },
      {
        service: "web",
        state: "exited",
        startedAt: Date.parse("2026-12-06T11:00:00Z"),
        exitCode: 3,
        restartPolicy: "no",
      },
    ]);
  });
});
