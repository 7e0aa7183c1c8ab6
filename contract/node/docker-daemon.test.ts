import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dockerdFlags, NODE_DOCKERD_SETTINGS, renderDockerDaemonJson } from "./docker-daemon";

describe("the node's dockerd settings", () => {
  it("fetch 8 layers at once (Docker's default is 3), as daemon.json and as flags", () => {
    expect(JSON.parse(renderDockerDaemonJson())).toEqual({ "max-concurrent-downloads": 8 });
    expect(dockerdFlags()).toEqual(["--max-concurrent-downloads", "8"]);
  });

  it("are the flags the local setup starts dockerd with", () => {
    const script = readFileSync(join(__dirname, "..", "..", "scripts", "setup", "docker.sh"), "utf8");
    const line = script.split("\n").find((l) => /spawn_daemon .* dockerd/.test(l));
    expect(line, "scripts/setup/docker.sh starts dockerd with spawn_daemon").toBeDefined();
    for (const [k, v] of Object.entries(NODE_DOCKERD_SETTINGS)) expect(line).toContain(`--${k} ${v}`);
  });
});
