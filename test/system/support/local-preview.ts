// Real `pulumi preview --json` output of berth's own program (the local stack), for the preview
// summary's tests. A scratch stack of its own (stack file, temp backend, temp copy of the sample
// app); a previous deployment is written from a first preview's planned states with
// `pulumi stack import` (a preview needs no Docker; the state stands in for an earlier `up`).
import { createHash, randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunResult, run } from "../../../lib/process";
import { REPO_ROOT } from "./pulumi-project";

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, plaintext: JSON.stringify(value) });
const fakeDigest = (seed: string) => `sha256:${createHash("sha256").update(seed).digest("hex")}`;

interface Step {
  op: string;
  urn: string;
  provider?: string;
  newState?: {
    urn: string;
    custom: boolean;
    type: string;
    inputs?: Record<string, unknown>;
    parent?: string;
    provider?: string;
    additionalSecretOutputs?: string[];
  };
}

export class LocalStackScratch {
  readonly stack = `pv${randomBytes(4).toString("hex")}`;
  readonly tmp = mkdtempSync(join(tmpdir(), "berth-preview-"));
  readonly appDir = join(this.tmp, "app");
  readonly localRoot = join(this.tmp, "local");
  private readonly backend = join(this.tmp, "state");
  private readonly stackFile = join(REPO_ROOT, "stacks", `Pulumi.${this.stack}.yaml`);

  constructor() {
    cpSync(join(REPO_ROOT, "stacks", "local", "app"), this.appDir, { recursive: true });
    // The local stack's own file: its encryption salt and secrets (passphrase berth-local).
    writeFileSync(this.stackFile, readFileSync(join(REPO_ROOT, "stacks", "Pulumi.local.yaml")));
  }

  pulumi(
    args: string[],
    opts: { allowFailure?: boolean; env?: Record<string, string> } = {},
  ): Promise<RunResult> {
    return run("pulumi", [...args, "--stack", this.stack, "--non-interactive"], {
      cwd: REPO_ROOT,
      env: {
        PULUMI_BACKEND_URL: `file://${this.backend}`,
        PULUMI_CONFIG_PASSPHRASE: "berth-local",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        ...opts.env,
      },
      timeoutMs: 240_000,
      ...(opts.allowFailure ? { allowFailure: true } : {}),
    });
  }

  async init(environments: { name: string; compose: string; variables?: Record<string, string> }[]) {
    await run("mkdir", ["-p", this.backend]);
    await this.pulumi(["stack", "init"]);
    await this.pulumi(["config", "set", "berth:localRoot", this.localRoot]);
    await this.setEnvironments(environments);
  }

  async setEnvironments(
    environments: { name: string; compose: string; variables?: Record<string, string> }[],
  ) {
    await this.pulumi(["config", "set", "--path", "berth:environments", "[]"]);
    await this.pulumi(["config", "rm", "berth:environments"]);
    for (const [i, e] of environments.entries()) {
      await this.pulumi(["config", "set", "--path", `berth:environments[${i}].name`, e.name]);
      await this.pulumi(["config", "set", "--path", `berth:environments[${i}].compose`, e.compose]);
      for (const [k, v] of Object.entries(e.variables ?? {}))
        await this.pulumi(["config", "set", "--path", `berth:environments[${i}].variables.${k}`, v]);
    }
  }

  async configSecret(path: string): Promise<string> {
    return (await this.pulumi(["config", "get", "--path", path])).stdout.trim();
  }

  /** `pulumi preview --json` (the digest), or with `stream` the engine's event lines, policy events included. */
  async preview(opts: { policyPack?: boolean; stream?: boolean } = {}): Promise<RunResult> {
    return this.pulumi(
      [
        "preview",
        "--json",
        ...(opts.policyPack ? ["--policy-pack", join(REPO_ROOT, "policies", "run-pack")] : []),
      ],
      { allowFailure: true, env: opts.stream ? { PULUMI_ENABLE_STREAMING_JSON_PREVIEW: "true" } : {} },
    );
  }

  /**
   * Makes the stack's state what `pulumi up` of a previewed program would have left: every planned
   * resource created with its inputs as outputs, plus what berth's providers add (pinned images,
   * release sequences from `sequences`, a running agent), secrets as secrets.
   */
  async importDeployedState(previewDigest: string, sequences: Record<string, number>): Promise<void> {
    const steps = (JSON.parse(previewDigest) as { steps: Step[] }).steps;
    const exported = JSON.parse((await this.pulumi(["stack", "export"])).stdout);
    const secrets = {
      signingKey: await this.configSecret("berth:signingKey"),
      app: { "api-token": await this.configSecret("berth:secrets.api-token") },
      registryPassword: process.env.BERTH_REGISTRY_PASSWORD ?? "",
    };
    const providerUrn = `urn:pulumi:${this.stack}::berth::pulumi:providers:pulumi-nodejs::default`;
    const providerId = "7c3e61a2-0000-4000-8000-000000000001";
    const resources: Record<string, unknown>[] = [];
    /** Pinned image by repository. */
    const pinned: Record<string, string> = {};
    for (const step of steps) {
      const s = step.newState;
      if (!s) continue;
      const inputs = { ...(s.inputs ?? {}) };
      let outputs: Record<string, unknown> = { ...inputs };
      const kind = inputs.berthKind;
      let id: string | undefined;
      if (kind === "image-build") {
        inputs.password = secret(secrets.registryPassword);
        const digest = fakeDigest(`${inputs.repository}:${inputs.contextHash}`);
        pinned[String(inputs.repository)] = `${inputs.repository}@${digest}`;
        outputs = { ...inputs, digest, buildSeconds: 4.2, pinned: `${inputs.repository}@${digest}` };
        id = String(outputs.pinned);
      } else if (kind === "release") {
        const env = String(inputs.environmentId);
        // Each service's build, by the repository in its summary's image (`repository:tag`): an
        // environment has one build per build context.
        const summary = inputs.summary as { services: Record<string, { image: string }> };
        const images = Object.fromEntries(
          Object.keys(inputs.images as Record<string, string>).map((svc) => {
            const shown = summary.services[svc]?.image ?? "";
            return [svc, pinned[shown.slice(0, shown.lastIndexOf(":"))]];
          }),
        );
        const registry = {
          host: process.env.BERTH_REGISTRY_ADDR,
          prefix: "berth",
          allowOutside: false,
          username: process.env.BERTH_REGISTRY_USER,
          password: secrets.registryPassword,
        };
        Object.assign(inputs, {
          images,
          registry: secret(registry),
          secrets: secret(secrets.app),
          // The local target serves plain HTTP: no certificates (a preview shows the secret as a placeholder).
          certificates: secret({}),
          signingKey: secret(secrets.signingKey),
          // The keys the LocalNode below took on first contact (its outputs).
          nodeKeys: { publicKey: "(node key)", statusKey: "(status key)" },
        });
        outputs = {
          ...inputs,
          channel: secret(inputs.channel),
          sequence: sequences[env] ?? 1,
          composeSha256: fakeDigest(String(inputs.composeText)).slice(7),
          state: "applied",
          publishSeconds: 0.05,
          applySeconds: 7.5,
        };
        id = `${env}@${inputs.nodeId}`;
      } else if (kind === "local-node") {
        // Known only after the channel exists: the folder the stack config names.
        inputs.channelPath = join(this.localRoot, "channel");
        // pid 1 is alive, so the provider sees a running agent.
        outputs = {
          ...inputs,
          pid: 1,
          publicKey: "(node key)",
          statusKey: "(status key)",
          logFile: join(String(inputs.stateRoot), "agent.log"),
        };
        id = String(inputs.nodeId);
      } else if (kind !== undefined) {
        outputs = { ...inputs, url: `file://${inputs.path}` };
        id = String(inputs.path);
      }
      const resource: Record<string, unknown> = {
        urn: s.urn,
        custom: s.custom,
        type: s.type,
        ...(s.custom ? { id, inputs, outputs } : { outputs: {} }),
        ...(s.parent ? { parent: s.parent } : {}),
        ...(s.custom ? { provider: `${providerUrn}::${providerId}` } : {}),
        ...(s.additionalSecretOutputs ? { additionalSecretOutputs: s.additionalSecretOutputs } : {}),
      };
      if (s.type === "pulumi:pulumi:Stack") {
        resources.unshift(resource);
        resources.splice(1, 0, {
          urn: providerUrn,
          custom: true,
          id: providerId,
          type: "pulumi:providers:pulumi-nodejs",
          inputs: {},
          outputs: {},
        });
      } else resources.push(resource);
    }
    for (const r of resources) {
      for (const v of Object.values((r.inputs as Record<string, unknown>) ?? {}))
        if (v === UNKNOWN)
          throw new Error(
            `${r.urn}: an input is still unknown (${Object.entries(
              (r.inputs as Record<string, unknown>) ?? {},
            )
              .filter(([, x]) => x === UNKNOWN)
              .map(([k]) => k)
              .join(", ")})`,
          );
    }
    exported.deployment.resources = resources;
    const file = join(this.tmp, "deployment.json");
    writeFileSync(file, JSON.stringify(exported));
    await this.pulumi(["stack", "import", "--file", file]);
  }

  remove(): void {
    rmSync(this.stackFile, { force: true });
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

export interface CapturedPreviews {
  /** Digest of a first preview: environments demo and legacy. */
  create: string;
  /** Digest right after the import: nothing changes. */
  same: string;
  /** Digest of the changed program (see `changeEverything`). */
  update: string;
  /** The same preview as an event stream with the policy pack. */
  updateEvents: string;
  secrets: string[];
}

/**
 * The scenario behind cli/preview-summary/testdata: deployed state with demo at release 4 and
 * legacy at 2; then legacy removed, demo's GREETING changed, the worker's env keys changed (one
 * a secret reference), a volume, a mount and a route added, the app's source changed, the
 * api-token secret rotated.
 */
export async function captureLocalPreviews(s: LocalStackScratch): Promise<CapturedPreviews> {
  const { appendFileSync } = await import("node:fs");
  const compose = join(s.appDir, "compose.yaml");
  await s.init([
    { name: "demo", compose },
    { name: "legacy", compose },
  ]);
  const create = (await s.preview()).stdout;
  await s.importDeployedState(create, { demo: 4, legacy: 2 });
  const same = (await s.preview()).stdout;
  const secrets = [
    await s.configSecret("berth:signingKey"),
    await s.configSecret("berth:secrets.api-token"),
    process.env.BERTH_REGISTRY_PASSWORD ?? "",
    "rotated-token-value-123",
  ].filter((x) => x.length > 0);
  await s.setEnvironments([{ name: "demo", compose, variables: { GREETING: "Hello again" } }]);
  await s.pulumi([
    "config",
    "set",
    "--secret",
    "--path",
    "berth:secrets.api-token",
    "rotated-token-value-123",
  ]);
  let text = readFileSync(compose, "utf8");
  text = text
    .replace(
      '      INTERVAL_SECONDS: "3"\n',
      "      LOG_LEVEL: debug\n      DB_PASSWORD:\n        x-berth-secret: api-token\n",
    )
    .replace("      - data:/data\n", "      - data:/data\n      - uploads:/uploads\n")
    .replace("volumes:\n  data: {}\n", "volumes:\n  data: {}\n  uploads: {}\n")
    .replace(
      "    host: localhost\n",
      "    host: localhost\n  - service: web\n    port: 8080\n    host: demo.localhost\n    path: /api\n",
    );
  writeFileSync(compose, text);
  appendFileSync(join(s.appDir, "web", "app.py"), "\n# changed\n");
  const update = (await s.preview()).stdout;
  const updateEvents = (await s.preview({ policyPack: true, stream: true })).stdout;
  return { create, same, update, updateEvents, secrets };
}
