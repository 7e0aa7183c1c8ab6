// Pull credentials reach the node sealed in the release, as the reserved secret
// `berth.registry-credentials` (JSON: { "<host>": { "username", "password" } }). The program
// seals them (components/runtime/release.ts); the agent writes them to a Docker config for the
// pull only (node-agent/apply/registry-auth.ts). Builds use the same config format.
import * as z from "zod";

export const REGISTRY_CREDENTIALS_SECRET = "berth.registry-credentials";

const credentials = z.record(z.string().min(1), z.object({ username: z.string(), password: z.string() }));
export type RegistryCredentials = z.infer<typeof credentials>;

export function parseRegistryCredentials(text: string): RegistryCredentials {
  const r = credentials.safeParse(JSON.parse(text));
  if (!r.success)
    throw new Error(`secret ${REGISTRY_CREDENTIALS_SECRET} is not { host: { username, password } }`);
  return r.data;
}

/** Docker's config.json for these credentials. */
export function dockerConfigJson(creds: RegistryCredentials): string {
  const auths: Record<string, { auth: string }> = {};
  for (const [host, c] of Object.entries(creds)) {
    auths[host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString("base64") };
  }
  return JSON.stringify({ auths });
}
