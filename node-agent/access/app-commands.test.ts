import { describe, expect, it } from "vitest";
import { containerLogs, execIn, listAppContainers, logPrefix, parseAppContainers } from "./app-commands";

describe("app access commands", () => {
  it("lists an environment's containers, one service's when asked", () => {
    expect(listAppContainers("app").args).toContain("label=berth.environment=app");
    expect(listAppContainers("app", "web").args).toContain("label=berth.service=web");
  });

  it("parses containers oldest first and names their lines", () => {
    const out = [
      "b\tweb\t4\t1\trunning\t2026-12-06 08:01:00 +0000 UTC",
      "a\tweb\t3\t2\texited\t2026-12-06 08:00:00 +0000 UTC",
      "",
    ].join("\n");
    const list = parseAppContainers(out);
    expect(list.map((c) => c.id)).toEqual(["a", "b"]);
    expect(logPrefix(list[0] as never)).toBe("web.2 r3 | ");
  });

  it("builds logs and exec calls", () => {
    expect(containerLogs("x", { follow: true, since: "10m", tail: 5 }).args).toEqual([
      "logs",
      "--follow",
      "--since",
      "10m",
      "--tail",
      "5",
      "x",
    ]);
    expect(execIn("x", ["sh", "-c", "exit 3"], { interactive: true }).args).toEqual([
      "exec",
      "--interactive",
      "x",
      "sh",
      "-c",
      "exit 3",
    ]);
  });
});
