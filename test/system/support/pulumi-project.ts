// A throwaway Pulumi project for system tests: a copy of a fixture folder, the repository's
// node_modules linked in, its own file backend and passphrase, driven by the real CLI.
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type RunResult, run } from "../../../lib/process";

export const REPO_ROOT = resolve(__dirname, "../../..");

export class PulumiProject {
  readonly dir: string;
  readonly stateDir: string;
  readonly passphrase = randomBytes(16).toString("hex");

  constructor(
    fixture: string,
    readonly stack = "test",
  ) {
    const root = mkdtempSync(join(tmpdir(), "berth-pulumi-"));
    this.dir = join(root, "project");
    this.stateDir = join(root, "state");
    cpSync(join(__dirname, "..", "fixtures", fixture), this.dir, { recursive: true });
    cpSync(join(REPO_ROOT, "tsconfig.json"), join(this.dir, "tsconfig.json"));
    symlinkSync(join(REPO_ROOT, "node_modules"), join(this.dir, "node_modules"));
    cpSync(join(REPO_ROOT, "package.json"), join(this.dir, "package.json"));
  }

  get env(): Record<string, string> {
    return {
      PULUMI_BACKEND_URL: `file://${this.stateDir}`,
      PULUMI_CONFIG_PASSPHRASE: this.passphrase,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    };
  }

  /** Runs `pulumi ARGS --stack STACK` in the project; throws with the CLI's own message on failure. */
  pulumi(
    args: string[],
    opts: { allowFailure?: boolean; redact?: string[]; input?: string } = {},
  ): Promise<RunResult> {
    return run("pulumi", [...args, "--stack", this.stack, "--non-interactive"], {
      cwd: this.dir,
      env: this.env,
      timeoutMs: 240_000,
      ...opts,
    });
  }

  async init(config: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
    await run("mkdir", ["-p", this.stateDir]);
    await this.pulumi(["stack", "init"]);
    for (const [k, v] of Object.entries(config)) await this.pulumi(["config", "set", k, v]);
    for (const [k, v] of Object.entries(secrets)) {
      await this.pulumi(["config", "set", "--secret", k], { input: v, redact: [v] });
    }
  }

  remove(): void {
    rmSync(join(this.dir, ".."), { recursive: true, force: true });
  }
}
