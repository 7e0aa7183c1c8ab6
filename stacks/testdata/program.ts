// Runs the whole program (stacks/index.ts) under Pulumi mocks with an example stack file's
// config, as Pulumi's unit-testing guide describes: config through pulumi.runtime.setAllConfig
// (with the secret keys), then the program module is imported and every declared resource is
// recorded with its inputs.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { parse } from "yaml";
import { type Recorded, setCloudMocks, settle } from "../../components/deployment-node/mocks";
import { generateSigningKeyPair } from "../../contract/payload";

export const STACKS = path.resolve(__dirname, "..");

/** An example stack file's `config:` as Pulumi hands it to a program (objects as JSON text). */
export function exampleConfig(file: string): Record<string, string> {
  const doc = parse(readFileSync(path.join(STACKS, file), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(doc.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

export const signing = generateSigningKeyPair();

/** The secrets the example files tell users to set with `pulumi config set --secret`. */
export const SECRETS: Record<string, string> = {
  "berth:signingKey": signing.privateKey,
  "berth:channelAccessKeyId": "PROGRAMKEYID",
  "berth:channelSecretAccessKey": "program-secret-value",
  "berth:secrets": JSON.stringify({ "db-password": "db-secret-value" }),
  "berth:certificates": JSON.stringify({ "shop-origin": "certificate-bundle-value" }),
  "cloudflare:apiToken": "cf-api-token-value",
};

/** The example's environments, pointed at the test app (the examples name apps/shop/compose.yaml). */
export function withTestApp(config: Record<string, string>): Record<string, string> {
  const envs = JSON.parse(config["berth:environments"] ?? "[]") as { compose: string }[];
  return {
    ...config,
    "berth:environments": JSON.stringify(envs.map((e) => ({ ...e, compose: "testdata/shop/compose.yaml" }))),
  };
}

export interface ProgramRun {
  created: Recorded[];
  outputs: Record<string, unknown>;
}

/** Sets mocks and config, imports the program, waits for its resources, resolves its outputs. */
export async function runProgram(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[],
): Promise<ProgramRun> {
  const created = setCloudMocks(stack);
  pulumi.runtime.setAllConfig(config, secretKeys);
  // The unit project runs its files without isolation (vitest.config.mts): another file of this
  // worker may have imported the program already, and a cached module would declare nothing.
  vi.resetModules();
  const program = (await import("../index")) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(program)) {
    outputs[k] = pulumi.Output.isInstance(v)
      ? await new Promise((resolve) => (v as pulumi.Output<unknown>).apply(resolve))
      : v;
  }
  await settle();
  return { created, outputs };
}
