import { describe, expect, it } from "vitest";
import { haproxyOutput } from "./haproxy-process";

describe("haproxyOutput", () => {
  it("sends HAProxy's request log to the journal under systemd, to a file elsewhere", () => {
    expect(haproxyOutput({ JOURNAL_STREAM: "8:12345" }, "/var/lib/berth/proxy")).toEqual({ kind: "journal" });
    expect(haproxyOutput({}, "/state/proxy")).toEqual({ kind: "file", path: "/state/proxy/haproxy.log" });
  });
});
