// For a pull only, the release's registry credentials (contract/release/registry-credentials.ts)
// are written to a temporary Docker config (0700 folder, 0600 file) that is removed right after;
// the node's own Docker config is never touched.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dockerConfigJson, type RegistryCredentials } from "../../contract/release/registry-credentials";

export { dockerConfigJson } from "../../contract/release/registry-credentials";

/** Runs `fn` with DOCKER_CONFIG pointing at a temporary config holding the credentials. */
export async function withDockerConfig<T>(
  creds: RegistryCredentials | undefined,
  fn: (env: Record<string, string>) => Promise<T>,
): Promise<T> {
  if (!creds || Object.keys(creds).length === 0) return fn({});
  const dir = mkdtempSync(join(tmpdir(), "berth-pull-"));
  try {
    writeFileSync(join(dir, "config.json"), dockerConfigJson(creds), { mode: 0o600 });
    return await fn({ DOCKER_CONFIG: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
