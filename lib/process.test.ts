import { describe, expect, it } from "vitest";
import { ProcessError, run } from "./process";

describe("run", () => {
  it("names the command and its last output when it fails, with secrets redacted", async () => {
    const err = await run("sh", ["-c", "echo token-s3cr3t >&2; exit 3"], { redact: ["s3cr3t"] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProcessError);
    expect((err as Error).message).toMatch(/^sh -c .*exited with 3\ntoken-\[secret\]$/s);
    expect((err as Error).message).not.toContain("s3cr3t");
  });

  it("stops the command when its signal is aborted", async () => {
    const stop = new AbortController();
    const t0 = Date.now();
    const running = run("sleep", ["30"], { signal: stop.signal, allowFailure: true });
    setTimeout(() => stop.abort(), 100);
    await expect(running).rejects.toThrow(/sleep 30: stopped/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

describe("run with passThrough", () => {
  it("captures the output it also passes through", async () => {
    const r = await run("sh", ["-c", "echo to-out; echo to-err >&2; exit 3"], {
      passThrough: true,
      allowFailure: true,
    });
    expect(r).toMatchObject({ exitCode: 3, stdout: "to-out\n", stderr: "to-err\n" });
  });
});
