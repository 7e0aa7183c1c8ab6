import { describe, expect, it } from "vitest";
import { haproxyArgs, haproxyOutput } from "./haproxy-process";

describe("haproxyOutput", () => {
  it("sends HAProxy's request log to the journal under systemd, to a file elsewhere", () => {
    expect(haproxyOutput({ JOURNAL_STREAM: "8:12345" }, "/var/lib/berth/proxy")).toEqual({ kind: "journal" });
    expect(haproxyOutput({}, "/state/proxy")).toEqual({ kind: "file", path: "/state/proxy/haproxy.log" });
  });
});

describe("haproxyArgs", () => {
  it("runs in the foreground with a master, or notifies systemd with -Ws", () => {
    expect(haproxyArgs({ configPath: "/c", pidFile: "/p", mode: "foreground" })).toContain("-db");
    expect(haproxyArgs({ configPath: "/c", pidFile: "/p", mode: "systemd" })).toContain("-Ws");
  });
});
