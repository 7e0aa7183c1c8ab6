import { describe, expect, it } from "vitest";
import { hookExec, parseServiceContainers, serviceContainers } from "./hooks";

describe("lifecycle hooks as docker calls", () => {
  it("runs a hook with its user, folder and environment", () => {
    expect(
      hookExec("abc123abc123", {
        command: ["./notify", "started"],
        user: "app",
        workingDir: "/srv",
        environment: { STAGE: "post-start" },
      }).args,
    ).toEqual([
      "exec",
      "--user",
      "app",
      "--workdir",
      "/srv",
      "--env",
      "STAGE=post-start",
      "abc123abc123",
      "./notify",
      "started",
    ]);
    // parseNodeExtras has read x-berth's `$$` back as `$`: the hook's text goes as it is.
    expect(
      hookExec("abc123abc123", { command: ["sh", "-c", "echo $$ $HOME"], environment: {} }).args,
    ).toEqual(["exec", "abc123abc123", "sh", "-c", "echo $$ $HOME"]);
  });

  it("finds a service's containers by Compose's labels", () => {
    expect(serviceContainers("berth_prod_r3", "web").args).toContain("label=com.docker.compose.service=web");
    expect(
      parseServiceContainers("0123456789ab\trunning\tfeed\nnot an id\n\nfedcba987654\texited\t\n"),
    ).toEqual([
      { id: "0123456789ab", state: "running", configHash: "feed" },
      { id: "fedcba987654", state: "exited", configHash: "" },
    ]);
  });
});
