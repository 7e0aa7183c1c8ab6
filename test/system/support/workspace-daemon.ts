// A workspace declared to a real agent daemon (AgentHarness.startDaemon) the way the program
// declares it, and what the system tests read back: its status from the channel, waits on a
// condition with a bound (never a fixed sleep), and the Docker objects it leaves behind. Shared by
// the workspace files that run the daemon (workspace-lifecycle, workspace-backup, workspace-idle-restart,
// workspace-snapshots, workspace-switch, access-workspace).
import {
  signWorkspace,
  type WorkspaceDeclaration,
  type WorkspaceStatus,
  workspaceKeys,
  workspaceStatus,
} from "../../../contract/workspace/declaration";
import { run } from "../../../lib/process";
import type { AgentHarness } from "./agent-harness";
import { BASE_IMAGE, removeStateVolumes } from "./devcontainer-repo";

/** A trusted workspace of `main` with generation 1 and the base image as its default; `o` adds or overrides. */
export function workspaceDeclaration(
  h: AgentHarness,
  o: Pick<WorkspaceDeclaration, "workspaceId" | "repository" | "repositoryName"> &
    Partial<WorkspaceDeclaration>,
): WorkspaceDeclaration {
  return {
    formatVersion: 1,
    nodeId: h.nodeId,
    generation: 1,
    branch: "main",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: BASE_IMAGE,
    ...o,
  };
}

/** Signs the declaration with the harness's key and puts it on the node's channel. */
export async function declareWorkspace(h: AgentHarness, d: WorkspaceDeclaration): Promise<void> {
  await h.channel.put(
    workspaceKeys.declaration(h.nodeId, d.workspaceId),
    signWorkspace(d, h.signing.privateKey),
  );
}

/** The workspace's status as the node reported it, parsed. */
export async function workspaceStatusOf(h: AgentHarness, id: string): Promise<WorkspaceStatus | undefined> {
  const text = await h.channel.get(workspaceKeys.status(h.nodeId, id));
  return text ? workspaceStatus.parse(JSON.parse(text)) : undefined;
}

/** `fn`'s first defined answer, asked every 200 ms for at most `ms`; the daemon's log when it times out. */
export async function until<T>(
  h: AgentHarness,
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 300_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}\n${h.daemonLog()}`);
}

/** The status once the workspace runs (`restored`: with the restore's report, written just after the start); a failure throws. */
export function workspaceRunning(
  h: AgentHarness,
  id: string,
  o: { restored?: boolean } = {},
): Promise<WorkspaceStatus> {
  return until(h, `workspace ${id} to run`, async () => {
    const s = await workspaceStatusOf(h, id);
    if (s?.state === "failed") throw new Error(`workspace ${id} failed: ${s.error}\n${h.daemonLog()}`);
    return s?.state === "running" && (!o.restored || s.backup?.restore) ? s : undefined;
  });
}

/** The workspace's containers and volumes (by label), and the state volumes whose name holds `marker`. */
export async function removeWorkspaceObjects(id: string, marker: string): Promise<void> {
  const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.workspace=${id}`])).stdout.trim();
  if (ids) await run("docker", ["rm", "-f", ...ids.split("\n")], { allowFailure: true });
  await removeStateVolumes(marker);
  const vols = (
    await run("docker", ["volume", "ls", "-q", "--filter", `label=berth.workspace=${id}`])
  ).stdout.trim();
  if (vols) await run("docker", ["volume", "rm", "-f", ...vols.split("\n")], { allowFailure: true });
}

/**
 * The images built for a repository declared without a registry (they stay on the node), by name:
 * an id could be shared with an image another test tagged.
 */
export async function removeLocalWorkspaceImages(repositoryName: string): Promise<void> {
  const tagged = (
    await run("docker", [
      "image",
      "ls",
      "--format",
      "{{.Repository}}:{{.Tag}}",
      "--filter",
      `reference=berth.local/workspace/${repositoryName}/devcontainer`,
    ])
  ).stdout
    .split("\n")
    .filter(Boolean);
  if (tagged.length > 0) await run("docker", ["rmi", ...tagged], { allowFailure: true });
}
