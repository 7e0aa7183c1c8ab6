import { describe, expect, it } from "vitest";
import { type DockerRunner, dockerRunner, engineSocket } from "./docker";

describe("engineSocket: the Engine API beside a runner's CLI calls", () => {
  it("the Unix socket of the runner's engine, DOCKER_HOST's when it names none", () => {
    expect(engineSocket(dockerRunner({ dockerHost: "unix:///tmp/d2/docker.sock" }))).toBe(
      "/tmp/d2/docker.sock",
    );
    const saved = process.env.DOCKER_HOST;
    try {
      delete process.env.DOCKER_HOST;
      expect(engineSocket(dockerRunner())).toBe("/var/run/docker.sock");
      process.env.DOCKER_HOST = "unix:///run/other.sock";
      expect(engineSocket(dockerRunner())).toBe("/run/other.sock");
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it("none for an engine over TCP, or a runner of another kind (the caller runs the CLI)", () => {
    expect(engineSocket(dockerRunner({ dockerHost: "tcp://10.0.0.2:2375" }))).toBeUndefined();
    const fake: DockerRunner = async () => ({ command: "", exitCode: 0, stdout: "", stderr: "" });
    expect(engineSocket(fake)).toBeUndefined();
  });
});
