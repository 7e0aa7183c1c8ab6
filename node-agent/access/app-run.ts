// `berth run`: a one-off container of a service of the environment's current release, started by
// Compose from the release's rendered file with the release's secrets, so it has the service's
// pinned image, environment, networks and volumes (a migration that writes to the app's database).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { AccessRequest } from "../../contract/access";
import { unsealSecrets } from "../../contract/payload";
import { registerSecret } from "../../lib/log";
import { ReleaseStore } from "../state/release-store";
import { composeRun } from "./app-commands";
import { pipeCommand } from "./app-handlers";
import type { ActionHandler } from "./server";

export interface RunDeps {
  stateRoot: string;
  /** The node's X25519 private key: the release's secrets are sealed to it. */
  nodePrivateKey: string;
  dockerEnv?: Record<string, string>;
}

export function runHandler(d: RunDeps): ActionHandler {
  return async (c) => {
    const r = c.request as AccessRequest<"run">;
    const env = c.target.id;
    const seq = existsSync(join(d.stateRoot, "environments", env))
      ? new ReleaseStore(d.stateRoot, env).current()
      : undefined;
    if (seq === undefined) throw new Error(`environment ${env} has no running release on this node`);
    const store = new ReleaseStore(d.stateRoot, env);
    const file = join(store.releaseDir(seq), "compose.yaml");
    const release = store.release(seq);
    if (!release.extras.services.some((s) => s.name === r.service)) {
      await c.session.write(
        "stderr",
        `release ${seq} of ${env} has no service ${r.service}; its services: ${release.extras.services.map((s) => s.name).join(", ")}\n`,
      );
      return 125;
    }
    const secrets = Object.fromEntries(unsealSecrets(release.payload, d.nodePrivateKey));
    const secretEnv: Record<string, string> = {};
    for (const [name, variable] of Object.entries(release.extras.secrets)) {
      const value = secrets[name];
      if (value === undefined) throw new Error(`secret ${name} is missing from release ${seq}`);
      registerSecret(value);
      secretEnv[variable] = value;
    }
    c.log.info({ environment: env, release: seq, service: r.service }, "one-off container");
    return await pipeCommand(
      c.session,
      composeRun({ environmentId: env, file, service: r.service, command: r.command }),
      { ...d.dockerEnv, ...secretEnv },
    );
  };
}
