// A real S3-compatible server for tests: versitygw (scripts/setup/versitygw.sh) on a free
// 127.0.0.1 port, serving a temporary folder; buckets are folders of it.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../../lib/process";
import { freePort } from "./agent-harness";

export class Versitygw {
  readonly dir = mkdtempSync(join(tmpdir(), "berth-versitygw-"));
  readonly accessKey = `gwkey${Math.random().toString(36).slice(2, 10)}`;
  readonly secretKey =
    `gwsecret-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  port = 0;
  private proc: ChildProcess | undefined;
  log = "";

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if ((await run("sh", ["-c", "command -v versitygw"], { allowFailure: true })).exitCode !== 0)
      throw new Error(
        "versitygw is not on PATH: run `bash scripts/setup.sh versitygw` and use scripts/with-env.sh",
      );
    mkdirSync(join(this.dir, "data"), { recursive: true });
    if (this.port === 0) this.port = await freePort();
    this.proc = spawn("versitygw", ["--port", `127.0.0.1:${this.port}`, "posix", join(this.dir, "data")], {
      env: { ...process.env, ROOT_ACCESS_KEY: this.accessKey, ROOT_SECRET_KEY: this.secretKey },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stdout?.on("data", (d) => (this.log += String(d)));
    this.proc.stderr?.on("data", (d) => (this.log += String(d)));
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await fetch(this.endpoint);
        return;
      } catch {
        if (Date.now() > deadline || this.proc.exitCode !== null)
          throw new Error(`versitygw did not start:\n${this.log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  bucket(name: string): void {
    mkdirSync(join(this.dir, "data", name), { recursive: true });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
