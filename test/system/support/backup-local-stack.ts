// The local stack (stacks/, the real Pulumi CLI on a file backend) with the sample app and its
// backups declared to a versitygw bucket, in its own stack, folders and port; and what a lost
// node means on this machine. Shared by test/system/node-protocol.test.ts and bench/recover.ts.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive } from "../../../lib/pid";
import { type RunResult, run } from "../../../lib/process";
import { freePort } from "./agent-harness";
import { REPO_ROOT } from "./pulumi-project";
import { Versitygw } from "./versitygw";

export const BUCKET = "berth-stack-backups";

export class BackupLocalStack {
  readonly run = Math.random().toString(36).slice(2, 6);
  readonly stack: string;
  readonly env: string;
  readonly tmp = mkdtempSync(join(tmpdir(), "berth-protocol-"));
  readonly backend = join(this.tmp, "state");
  readonly localRoot = join(this.tmp, "local");
  readonly appDir = join(this.tmp, "app");
  readonly stackFile: string;
  readonly gw = new Versitygw();
  readonly password = `pw-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  port = 0;

  constructor(prefix: string) {
    this.stack = `${prefix}${this.run}`;
    this.env = `${prefix}${this.run}`;
    this.stackFile = join(REPO_ROOT, "stacks", `Pulumi.${this.stack}.yaml`);
  }

  get channelRoot(): string {
    return join(this.localRoot, "channel");
  }
  get nodeRoot(): string {
    return join(this.localRoot, "node");
  }
  /** The store service's volume folder on this machine (what the container sees as /data). */
  get dataDir(): string {
    return join(this.localRoot, "volumes", `berth-env-${this.env}`, "volumes", "data", "data");
  }

  pulumi(args: string[], opts: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return run("pulumi", [...args, "--stack", this.stack, "--non-interactive"], {
      cwd: REPO_ROOT,
      env: { PULUMI_BACKEND_URL: `file://${this.backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-local" },
      timeoutMs: opts.timeoutMs ?? 900_000,
      redact: [this.password, this.gw.secretKey],
      ...(opts.allowFailure ? { allowFailure: true } : {}),
    });
  }

  /**
   * A new stack of the sample app with backups declared. `config`: more plain settings (YAML
   * paths), `secrets`: more secret ones; all set in one `pulumi config set-all`.
   */
  async init(
    o: {
      releaseTimeoutSeconds?: number;
      config?: Record<string, string>;
      secrets?: Record<string, string>;
    } = {},
  ): Promise<void> {
    this.port = await freePort();
    await this.gw.start();
    this.gw.bucket(BUCKET);
    cpSync(join(REPO_ROOT, "stacks", "local", "app"), this.appDir, { recursive: true });
    writeFileSync(this.stackFile, readFileSync(join(REPO_ROOT, "stacks", "Pulumi.local.yaml")));
    await run("mkdir", ["-p", this.backend]);
    await this.pulumi(["stack", "init"]);
    const b = "berth:environments[0].backup";
    const plain: Record<string, string> = {
      "berth:localRoot": this.localRoot,
      "berth:localHttpPort": String(this.port),
      ...(o.releaseTimeoutSeconds ? { "berth:releaseTimeoutSeconds": String(o.releaseTimeoutSeconds) } : {}),
      "berth:environments[0].name": this.env,
      "berth:environments[0].compose": join(this.appDir, "compose.yaml"),
      [`${b}.target.endpoint`]: this.gw.endpoint,
      [`${b}.target.bucket`]: BUCKET,
      [`${b}.target.region`]: "us-east-1",
      [`${b}.retention.last`]: "3",
      ...o.config,
    };
    const secret: Record<string, string> = {
      "berth:secrets.backup-password": this.password,
      "berth:secrets.backup-access-key-id": this.gw.accessKey,
      "berth:secrets.backup-secret-access-key": this.gw.secretKey,
      ...o.secrets,
    };
    await this.pulumi([
      "config",
      "set-all",
      "--path",
      ...Object.entries(plain).flatMap(([k, v]) => ["--plaintext", `${k}=${v}`]),
      ...Object.entries(secret).flatMap(([k, v]) => ["--secret", `${k}=${v}`]),
    ]);
  }

  /** `berth-agent backup ENV` on the node: a snapshot of every volume now. */
  async backupNow(): Promise<RunResult> {
    return run(
      "node",
      [
        join(REPO_ROOT, "bin", "berth-agent.js"),
        "backup",
        this.env,
        "--config",
        join(this.nodeRoot, "agent.json"),
      ],
      { allowFailure: true, timeoutMs: 600_000 },
    );
  }

  agentPid(): number {
    return Number(readFileSync(join(this.nodeRoot, "agent.pid"), "utf8").trim());
  }

  /**
   * The node is lost: its agent killed, its HAProxy stopped, the environment's containers,
   * networks and Docker volumes removed, its state folder (keys included) and volume folders
   * gone. The channel and the backups stay, as they would with a lost cloud server.
   */
  async loseNode(): Promise<void> {
    const pid = this.agentPid();
    if (alive(pid)) process.kill(pid, "SIGKILL");
    const hp = join(this.nodeRoot, "proxy", "haproxy.pid");
    if (existsSync(hp)) {
      const hpid = Number(readFileSync(hp, "utf8").trim().split("\n")[0]);
      if (alive(hpid)) process.kill(hpid, "SIGKILL");
    }
    const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.environment=${this.env}`])).stdout
      .split("\n")
      .filter(Boolean);
    if (ids.length) await run("docker", ["rm", "-f", ...ids], { allowFailure: true });
    for (const kind of ["network", "volume"] as const) {
      const names = (
        await run("docker", [kind, "ls", "-q", "--filter", `label=berth.environment=${this.env}`])
      ).stdout
        .split("\n")
        .filter(Boolean);
      if (names.length) await run("docker", [kind, "rm", ...names], { allowFailure: true });
    }
    rmSync(this.nodeRoot, { recursive: true, force: true });
    rmSync(join(this.localRoot, "volumes"), { recursive: true, force: true });
  }

  async cleanup(): Promise<void> {
    await this.pulumi(["destroy", "--yes"], { allowFailure: true });
    rmSync(this.stackFile, { force: true });
    await this.gw.cleanup();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
