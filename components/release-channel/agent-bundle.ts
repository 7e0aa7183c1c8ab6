// The signed agent bundle in a release channel (`agent/berth-agent.js` + `.sig`): what the
// installer in a cloud node's user data fetches at first boot. A dynamic resource; its logic is
// components/runtime/agent-bundle.ts. Publishing a new bundle reaches nodes created afterwards
// (and reinstalled ones) without touching any node's user data.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { run } from "../../lib/process";
import { DEFAULT_AGENT_BUNDLE_KEY } from "../deployment-node/cloud-init";
import { AGENT_BUNDLE, PROVIDER_RUNTIME } from "../runtime-path";

// 2: the signed manifest (agent/berth-agent.json) that running agents upgrade from.
export const AGENT_BUNDLE_PROVIDER_VERSION = "2";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => require(runtime).agentBundle.check(olds, news),
  diff: (id, olds, news) => require(runtime).agentBundle.diff(id, olds, news),
  create: (news) => require(runtime).agentBundle.create(news),
  update: (id, olds, news) => require(runtime).agentBundle.update(id, olds, news),
  delete: (id, olds) => require(runtime).agentBundle.remove(id, olds),
};

export interface AgentBundleArgs {
  /** The channel with the program's write credentials (the secret key stays secret). */
  channel: pulumi.Input<ChannelSpec>;
  /** The release-signing private key (secret). Nodes trust its public key. */
  signingKey: pulumi.Input<string>;
  /** Default: dist/berth-agent.js (`npm run build`). */
  bundlePath?: string;
  /** Default: agent/berth-agent.js. */
  key?: string;
  /** The bundle's version; default: what the bundle itself prints (`berth-agent version`). */
  version?: pulumi.Input<string>;
}

/** What `node BUNDLE version` prints: the version the bundle was built with. */
export async function bundleVersion(file: string): Promise<string> {
  const r = await run(process.execPath, [file, "version"], { allowFailure: true });
  if (r.exitCode !== 0)
    throw new AgentBundleError(
      `the agent bundle ${file} does not start (\`node ${file} version\` failed): rebuild it`,
    );
  return r.stdout.trim();
}

export class AgentBundleError extends Error {}

/** SHA-256 of the bundle file, with a clear word when it has not been built. */
export function bundleSha256(file: string): string {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch {
    throw new AgentBundleError(`the agent bundle ${file} is missing: run \`npm run build\` first`);
  }
  return createHash("sha256").update(text).digest("hex");
}

export class AgentBundle extends pulumi.dynamic.Resource {
  declare readonly key: pulumi.Output<string>;
  declare readonly signatureKey: pulumi.Output<string>;
  declare readonly bundleSha256: pulumi.Output<string>;
  declare readonly signedBy: pulumi.Output<string>;
  declare readonly version: pulumi.Output<string>;

  constructor(name: string, args: AgentBundleArgs, opts?: pulumi.CustomResourceOptions) {
    const bundlePath = args.bundlePath ?? AGENT_BUNDLE;
    super(
      provider,
      name,
      {
        berthKind: "agent-bundle",
        berthProviderVersion: AGENT_BUNDLE_PROVIDER_VERSION,
        channel: pulumi.secret(args.channel),
        bundlePath,
        bundleSha256: bundleSha256(bundlePath),
        key: args.key ?? DEFAULT_AGENT_BUNDLE_KEY,
        signingKey: pulumi.secret(args.signingKey),
        version: args.version ?? pulumi.output(bundleVersion(bundlePath)),
        signatureKey: undefined,
        signedBy: undefined,
        bytes: undefined,
      },
      { ...opts, additionalSecretOutputs: ["channel", "signingKey"] },
    );
  }
}
