// Before `devcontainer up` from an image: the state volume is mounted at the remote user's home,
// and a container of this workspace that runs another image is removed (its volumes kept), so
// the CLI starts the new image instead of reusing the old container. Compose-based configs
// manage their own containers and are never given here.
import { writeFileSync } from "node:fs";
import type { Logger } from "../../lib/log";
import type { RunResult } from "../../lib/process";
import * as cmd from "./commands";
import { type CredentialScope, withGitCredentials } from "./git-credentials";
import { homeOf, remoteUserOf, withStateMount } from "./state-volume";

export interface PrepareStart {
  /** Runs a command with the start step's environment (DOCKER_HOST, its Docker config). */
  run: (c: cmd.Command, allowFailure?: boolean) => Promise<RunResult>;
  id: string;
  /** The state volume (stateVolumeName). */
  volume: string;
  startConfig: Record<string, unknown>;
  /** Where the start config is written, the state mount added. */
  startFile: string;
  log: Logger;
  /** The private repository's credential socket, bound into the container with git's configuration. */
  git?: { socketDir: string; scope: CredentialScope } | undefined;
}

export async function prepareStart(p: PrepareStart): Promise<void> {
  const image = String(p.startConfig.image);
  const inspect = () => p.run(cmd.inspectImage(image), true);
  const volume = p.volume;
  // Independent calls at once (each costs a Docker round trip; this is on the way to running).
  const [first, , listed] = await Promise.all([
    inspect(),
    p.run(cmd.createVolume(volume, { [cmd.WORKSPACE_LABEL]: p.id })),
    p.run(cmd.containersOf(p.id)),
  ]);
  let info = first;
  // Not here yet (the default image): pull it now; if that fails, `devcontainer up` says why.
  if (info.exitCode !== 0 && (await p.run(cmd.pull(image), true)).exitCode === 0) info = await inspect();
  const [imageId = "", imageUser = "", label = ""] = info.stdout.trim().split("\t");
  const user = remoteUserOf(p.startConfig, label === "<no value>" ? undefined : label, imageUser);
  const home = homeOf(user);
  let config = p.startConfig;
  if (home) config = withStateMount(p.startConfig, volume, home);
  else p.log.warn({ user }, "the remote user is a bare uid: its home is not kept on the state volume");
  if (p.git) config = withGitCredentials(config, p.git.socketDir, p.git.scope);
  writeFileSync(p.startFile, `${JSON.stringify(config, null, 2)}\n`);
  for (const c of listed.stdout.split("\n").filter((l) => l.trim() !== "")) {
    const r = await p.run(cmd.containerImage(c), true);
    if (imageId !== "" && r.exitCode === 0 && r.stdout.trim() !== imageId) {
      p.log.info({ container: c }, "the workspace's image changed: replacing its container (state kept)");
      await p.run(cmd.removeContainer(c));
    }
  }
}
