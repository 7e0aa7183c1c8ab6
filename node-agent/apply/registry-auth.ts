// Pull credentials reach the node sealed in the release, as the reserved secret
// `berth.registry-credentials` (JSON: { "<host>": { "username", "password" } }). For the pull
// only, they are written to a temporary Docker config (0700 folder, 0600 file) that is removed
// right after; the node's own Docker config is never touched.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

export const REGISTRY_CREDENTIALS_SECRET = "berth.registry-credentials";

const credentials = z.record(z.string().min(1), z.object({ username: z.string(), password: z.string() }));
export type RegistryCredentials = z.infer<typeof credentials>;

export function parseRegistryCredentials(text: string): RegistryCredentials {
  const r = credentials.safeParse(JSON.parse(text));
  if (!r.success)
    throw new Error(`secret ${REGISTRY_CREDENTIALS_SECRET} is not { host: { username, password } }`);
  return r.data;
}

/** Docker's config.json for these credentials (pure). */
export function dockerConfigJson(creds: RegistryCredentials): string {
  const auths: Record<string, { auth: string }> = {};
  for (const [host, c] of Object.entries(creds)) {
    auths[host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString("base64") };
  }
  return JSON.stringify({ auths });
}

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
