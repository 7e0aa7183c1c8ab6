import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, registerSecret, scrubSecrets, withJournalPriority } from "./log";

const SECRET = "hunter2-log-test-value";
registerSecret(SECRET);

describe("scrubSecrets", () => {
  it("replaces a registered secret in every string, however deep, and leaves the rest", () => {
    const status = {
      state: "failed",
      error: `the before hook exited with 1: cannot connect to postgres://app:${SECRET}@db`,
      volumes: [{ last: { ok: false, error: `x${SECRET}y`, bytes: 12 } }],
      when: null,
    };
    const out = scrubSecrets(status);
    expect(JSON.stringify(out)).not.toContain(SECRET);
    expect(out.error).toBe("the before hook exited with 1: cannot connect to postgres://app:[secret]@db");
    expect(out.volumes[0]?.last).toEqual({ ok: false, error: "x[secret]y", bytes: 12 });
    expect(out.when).toBeNull();
    expect(status.error).toContain(SECRET); // the input is not changed
  });
});

describe("createLogger", () => {
  it("keeps a registered secret out of the message and out of every field", async () => {
    const sink = new PassThrough();
    let text = "";
    sink.on("data", (d) => (text += String(d)));
    const log = createLogger("log-test", sink);
    log.error({ err: `hook said ${SECRET}`, nested: { out: [SECRET] } }, `failed with ${SECRET}`);
    await new Promise((r) => setImmediate(r));
    expect(text).toContain("hook said [secret]");
    expect(text).not.toContain(SECRET);
  });
});

describe("withJournalPriority", () => {
  it("prefixes each level's line with its syslog priority, for journald", () => {
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on("data", (b: Buffer) => lines.push(...b.toString().split("\n").filter(Boolean)));
    const log = createLogger("journal-test", sink);
    log.level = "trace";
    log.fatal("f");
    log.error("e");
    log.warn("w");
    log.info("i");
    log.debug("d");
    log.trace("t");
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(lines.map((l) => withJournalPriority(l).slice(0, 3))).toEqual([
          "<2>",
          "<3>",
          "<4>",
          "<6>",
          "<7>",
          "<7>",
        ]);
        expect(withJournalPriority('{"msg":"no level"}')).toBe('<6>{"msg":"no level"}');
        resolve();
      }),
    );
  });
});
