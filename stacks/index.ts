// berth's Pulumi program. The stack's config (stacks/Pulumi.<stack>.yaml) picks the target and
// declares the fleet and its environments; it is validated as a whole before any resource is
// declared. Each target's wiring lives in stacks/targets/.
import { createPublicKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { EnrollmentKey } from "../components/enrollment/enrollment-key";
import { loadSigningPrivateKey, publicKeyText } from "../contract/payload";
import { parseStackConfig, StackConfigError } from "./config";
import type { ProgramContext } from "./targets/context";
import { deployHetzner } from "./targets/hetzner";
import { deployLocal } from "./targets/local";
import { deployScaleway } from "./targets/scaleway";
import { resolveTrust, TrustConfigError } from "./trust-config";

const stack = pulumi.getStack();
const stackFile = `stacks/Pulumi.${stack}.yaml`;

/** Which config keys Pulumi holds as secrets (the language host passes the list; not in the SDK's types). */
function secretKeyCheck(): ((key: string) => boolean) | undefined {
  const internal = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
  return typeof internal.isConfigSecret === "function" ? internal.isConfigSecret : undefined;
}

function loadConfig() {
  try {
    return parseStackConfig(pulumi.runtime.allConfig(), stackFile, secretKeyCheck());
  } catch (e) {
    if (e instanceof StackConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

const config = loadConfig();
const berthConfig = new pulumi.Config("berth");
const signingKey = berthConfig.requireSecret("signingKey");
const secrets =
  berthConfig.getSecretObject<Record<string, string>>("secrets") ?? pulumi.output<Record<string, string>>({});
const certificates =
  berthConfig.getSecretObject<Record<string, string>>("certificates") ??
  pulumi.output<Record<string, string>>({});
let trustedKey: string;
try {
  trustedKey = publicKeyText(createPublicKey(loadSigningPrivateKey(config.signingKey)));
} catch {
  throw new pulumi.RunError(
    `${stackFile}: berth:signingKey: not an Ed25519 private key (make one with \`berth keygen signing\`)`,
  );
}

function loadTrust(): ProgramContext["trust"] {
  try {
    const t = resolveTrust(config);
    return t ? { ...t, rootKey: berthConfig.requireSecret("trustRootKey") } : undefined;
  } catch (e) {
    if (e instanceof TrustConfigError)
      throw new pulumi.RunError(
        `invalid stack configuration:\n${e.problems.map((p) => `  ${stackFile}: ${p}`).join("\n")}`,
      );
    throw e;
  }
}
const trust = loadTrust();

const ctx: ProgramContext = {
  stack,
  stackFile,
  config,
  signingKey,
  enrollmentKey: new EnrollmentKey("enrollment-key").key,
  trustedKey,
  secrets,
  certificates,
  ...(trust ? { trust } : {}),
};
const out =
  config.target === "hetzner"
    ? deployHetzner(ctx)
    : config.target === "scaleway"
      ? deployScaleway(ctx)
      : deployLocal(ctx);

export const channelUrl = out.channelUrl;
export const urls = out.urls;
export const url = urls.apply((u) => u[0]);
export const releases = out.releases;
// Outputs only some targets have (local: nodeLog; clouds: nodes). Added only when present: an
// undefined export would be a warning on every preview.
if (out.nodeLog) module.exports.nodeLog = out.nodeLog;
if (out.nodes) module.exports.nodes = out.nodes;
if (out.channelRegion) module.exports.channelRegion = out.channelRegion;
