// berth's Pulumi program. The stack's config (stacks/Pulumi.<stack>.yaml) picks the target and
// declares the environments; it is validated as a whole before any resource is declared.
import { createPublicKey } from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DeploymentEnvironment } from "../components/deployment-environment/deployment-environment";
import { LocalNode } from "../components/local/local-node";
import { LocalRoot } from "../components/local/local-root";
import { ReleaseChannel } from "../components/release-channel/release-channel";
import { loadSigningPrivateKey, publicKeyText } from "../contract/payload";
import { parseStackConfig, StackConfigError } from "./config";

const stack = pulumi.getStack();
const stackFile = `stacks/Pulumi.${stack}.yaml`;

function loadConfig() {
  try {
    return parseStackConfig(pulumi.runtime.allConfig(), stackFile);
  } catch (e) {
    if (e instanceof StackConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

const config = loadConfig();
if (config.target !== "local") {
  throw new pulumi.RunError(
    `${stackFile}: berth:target: the ${config.target} target's program is not wired yet; use berth:target local`,
  );
}

const berthConfig = new pulumi.Config("berth");
const signingKey = berthConfig.requireSecret("signingKey");
const secrets = berthConfig.getSecretObject<Record<string, string>>("secrets") ?? pulumi.output({});
let trustedKey: string;
try {
  trustedKey = publicKeyText(createPublicKey(loadSigningPrivateKey(config.signingKey)));
} catch {
  throw new pulumi.RunError(
    `${stackFile}: berth:signingKey: not an Ed25519 private key (make one with \`berth keygen signing\`)`,
  );
}

// The local target: everything on this machine, no cloud account.
const registryHost = process.env.BERTH_REGISTRY_ADDR;
const registryUser = process.env.BERTH_REGISTRY_USER;
const registryPassword = process.env.BERTH_REGISTRY_PASSWORD;
if (!registryHost || !registryUser || !registryPassword) {
  throw new pulumi.RunError(
    "the local registry's address and credentials are not in the environment: run `npm run up` (it runs the setup), or `source scripts/env.sh` first",
  );
}
const localRoot = config.localRoot ?? path.resolve(__dirname, "..", ".berth-local", stack);
const root = new LocalRoot("local-root", localRoot);
const channelPath = path.join(localRoot, "channel");
const channel = new ReleaseChannel("channel", { path: channelPath }, { dependsOn: [root] });
const volumeRoot = path.join(localRoot, "volumes");
const node = new LocalNode(
  "node",
  {
    nodeId: "local-1",
    stateRoot: path.join(localRoot, "node"),
    volumeRoot,
    channelPath: channel.url.apply(() => channelPath),
    trustedKeys: [trustedKey],
    proxyBind: `127.0.0.1:${config.localHttpPort}`,
    healthTimeoutSeconds: Math.min(config.releaseTimeoutSeconds, 120),
  },
  { dependsOn: [root, channel] },
);

const environments = config.environments.map(
  (e) =>
    new DeploymentEnvironment(
      e.name,
      {
        name: e.name,
        composeFile: path.resolve(__dirname, e.compose),
        // The base image every build starts from is one machine setting (BERTH_BASE_IMAGE).
        variables: {
          ...(process.env.BERTH_BASE_IMAGE ? { BASE_IMAGE: process.env.BERTH_BASE_IMAGE } : {}),
          ...e.variables,
        },
        secrets,
        node: { nodeId: node.nodeId, volumeRoot },
        channel: { kind: "folder", path: channelPath },
        registry: {
          host: registryHost,
          namespace: config.registryNamespace,
          username: registryUser,
          password: pulumi.secret(registryPassword),
        },
        allowImagesOutsideNamespace: e.allowImagesOutsideNamespace,
        signingKey,
        releaseTimeoutSeconds: config.releaseTimeoutSeconds,
        urlFor: (r) => `http://${r.host}:${config.localHttpPort}${r.path ?? "/"}`,
      },
      { dependsOn: [node] },
    ),
);

export const channelUrl = channel.url;
export const nodeLog = node.logFile;
export const urls = pulumi.all(environments.map((e) => e.urls)).apply((u) => u.flat());
export const url = urls.apply((u) => u[0]);
export const releases = pulumi
  .all(environments.map((e) => e.sequence))
  .apply((seqs) => Object.fromEntries(config.environments.map((e, i) => [e.name, seqs[i]])));
