import { describe, expect, it } from "vitest";
import * as c from "./commands";

describe("backup commands", () => {
  it("finds a service's running containers by berth's labels", () => {
    expect(c.runningContainersOf("prod", "db")).toEqual({
      file: "docker",
      args: [
        "ps",
        "--quiet",
        "--filter",
        "label=berth.environment=prod",
        "--filter",
        "label=berth.service=db",
        "--filter",
        "status=running",
      ],
    });
  });

  it("finds the running containers that mount a volume", () => {
    expect(c.runningContainersUsing("berth-prod-data").args).toEqual([
      "ps",
      "--quiet",
      "--filter",
      "volume=berth-prod-data",
      "--filter",
      "status=running",
    ]);
  });

  it("runs a hook as its argv, and stops and starts containers by id", () => {
    expect(c.exec("abc", ["pg_dump", "-f", "/data/dump.sql"]).args).toEqual([
      "exec",
      "abc",
      "pg_dump",
      "-f",
      "/data/dump.sql",
    ]);
    expect(c.stopContainers(["a", "b"]).args).toEqual(["stop", "a", "b"]);
    expect(c.startContainers(["a"]).args).toEqual(["start", "a"]);
  });

  it("reads the ids docker ps printed", () => {
    expect(c.parseIds("a1\n b2 \n\n")).toEqual(["a1", "b2"]);
    expect(c.parseIds("")).toEqual([]);
  });
});
