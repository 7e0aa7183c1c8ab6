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
});
