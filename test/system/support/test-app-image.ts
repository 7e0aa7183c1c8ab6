// The image every agent test runs: built once from berth's base image, pushed to the local
// registry, and returned pinned by digest.
import { join } from "node:path";
import { resolveDigest } from "../../../contract/oci";
import { run } from "../../../lib/process";

export const REGISTRY = process.env.BERTH_REGISTRY_ADDR ?? "127.0.0.1:5000";

export function registryCredentials(): Record<string, { username: string; password: string }> {
  return {
    [REGISTRY]: {
      username: process.env.BERTH_REGISTRY_USER ?? "",
      password: process.env.BERTH_REGISTRY_PASSWORD ?? "",
    },
  };
}

const cached = new Map<string, string>();

/** `127.0.0.1:PORT/berth-test/app@sha256:…`, building and pushing it when needed. */
export function testAppImage(): Promise<string> {
  return fixtureImage("test-app", "app:3");
}

/** The image of `fixtures/<fixture>` as `127.0.0.1:PORT/berth-test/<nameTag>`, pinned; built and pushed when needed. */
export async function fixtureImage(fixture: string, nameTag: string): Promise<string> {
  const hit = cached.get(nameTag);
  if (hit) return hit;
  const ref = `${REGISTRY}/berth-test/${nameTag}`;
  const dockerConfig = { DOCKER_CONFIG: process.env.BERTH_DOCKER_CONFIG ?? "" };
  const have = await run("docker", ["image", "inspect", ref], { allowFailure: true });
  if (have.exitCode !== 0) {
    await run(
      "docker",
      [
        "build",
        "--quiet",
        "--build-arg",
        `BASE_IMAGE=${process.env.BERTH_BASE_IMAGE}`,
        "--tag",
        ref,
        join(__dirname, "..", "fixtures", fixture),
      ],
      { env: dockerConfig, timeoutMs: 600_000 },
    );
  }
  await run("docker", ["push", "--quiet", ref], { env: dockerConfig, timeoutMs: 300_000 });
  const { pinned } = await resolveDigest(ref, { credentials: registryCredentials() });
  cached.set(nameTag, pinned);
  return pinned;
}
