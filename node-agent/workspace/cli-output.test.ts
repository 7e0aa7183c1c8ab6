import { describe, expect, it } from "vitest";
import { ProcessError } from "../../lib/process";
import { failureSummary } from "./cli-output";

// A failed `devcontainer build --log-format json`, as the CLI writes it (shortened).
const json = (v: unknown) => JSON.stringify(v);
const stdout = `${json({
  outcome: "error",
  message:
    "Command failed: docker buildx build --load -f /tmp/devcontainercli-root/Dockerfile-with-features .",
  description: "An error occurred building the image.",
})}\n`;
const stderr = [
  json({
    type: "raw",
    level: 3,
    text: "#5 [dev_container_auto_added_stage_label 2/2] RUN echo hi && exit 7\n#5 0.124 hi\n",
  }),
  json({
    type: "raw",
    level: 3,
    text: '#5 ERROR: process "/bin/sh -c echo hi && exit 7" did not complete successfully: exit code: 7\n',
  }),
  json({
    type: "raw",
    level: 3,
    text: 'Dockerfile-with-features:4\nERROR: failed to solve: process "/bin/sh -c echo hi && exit 7" did not complete successfully: exit code: 7\n',
  }),
  "Error: Command failed: docker buildx build --load",
  "    at IW (/srv/node_modules/@devcontainers/cli/dist/spec-node/devContainersSpecCLI.js:470:2009)",
  "    at async f9 (/srv/node_modules/@devcontainers/cli/dist/spec-node/devContainersSpecCLI.js:671:2524)",
].join("\n");

describe("failureSummary", () => {
  it("says what the CLI and BuildKit say failed, without the CLI's stack trace", () => {
    const e = new ProcessError(`devcontainer build: exited with 1\n${stderr}`, {
      command: "devcontainer build",
      exitCode: 1,
      stdout,
      stderr,
    });
    const s = failureSummary(e);
    expect(s).toBe(
      'An error occurred building the image. ERROR: failed to solve: process "/bin/sh -c echo hi && exit 7" did not complete successfully: exit code: 7',
    );
    expect(s).not.toMatch(/devContainersSpecCLI\.js/);
  });

  it("keeps another command's last lines, without stack frames", () => {
    const e = new ProcessError(
      "git clone: exited with 128\nfatal: Remote branch nope not found\n    at x (y.js:1:1)",
      {
        command: "git clone",
        exitCode: 128,
        stdout: "",
        stderr: "fatal: Remote branch nope not found",
      },
    );
    expect(failureSummary(e, 2)).toBe("git clone: exited with 128\nfatal: Remote branch nope not found");
    expect(failureSummary(new Error("plain"))).toBe("plain");
  });
});
