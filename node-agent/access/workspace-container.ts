// Where a workspace runs and as whom: its running container (by the workspace label), the remote
// user its devcontainer config names (the devcontainer.metadata label, the last remoteUser wins,
// else containerUser, else the image's USER), the working tree's folder inside it, and its
// address on its network (port forwards connect there from the node).

import { WORKSPACE_LABEL } from "../workspace/commands";
import { inspectContainerJson, runningContainersWithLabel } from "./docker-api";

export interface WorkspaceContainer {
  id: string;
  user: string;
  folder: string;
  address: string | undefined;
}

interface Inspect {
  Id: string;
  Config?: { User?: string; WorkingDir?: string; Labels?: Record<string, string> };
  Mounts?: { Type?: string; Source?: string; Destination?: string }[];
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> };
}

/** Reads user, folder and address from `docker inspect` output (pure). */
export function workspaceContainerOf(inspectJson: string, repoDir: string): WorkspaceContainer {
  const [c] = JSON.parse(inspectJson) as Inspect[];
  if (!c) throw new Error("docker inspect returned no container");
  let user = c.Config?.User || "root";
  const meta = c.Config?.Labels?.["devcontainer.metadata"];
  if (meta) {
    try {
      const entries = JSON.parse(meta) as { remoteUser?: string; containerUser?: string }[];
      const pick = (k: "remoteUser" | "containerUser") =>
        entries
          .map((e) => e[k])
          .filter((v): v is string => typeof v === "string" && v !== "")
          .at(-1);
      user = pick("remoteUser") ?? pick("containerUser") ?? user;
    } catch {
      // A label that is not JSON: the image's user stands.
    }
  }
  const tree = c.Mounts?.find((m) => m.Source === repoDir)?.Destination;
  const address = Object.values(c.NetworkSettings?.Networks ?? {})
    .map((n) => n.IPAddress)
    .find((a) => a);
  return { id: c.Id, user, folder: tree ?? (c.Config?.WorkingDir || "/"), address };
}

/** The workspace's running container, or an error saying it is not running. */
/** The workspace's running container, read from the Engine API (no docker CLI process). */
export async function findWorkspaceContainer(
  id: string,
  repoDir: string,
  dockerSocketPath: string,
): Promise<WorkspaceContainer> {
  const [first] = await runningContainersWithLabel(dockerSocketPath, `${WORKSPACE_LABEL}=${id}`);
  if (!first) throw new WorkspaceNotRunning(`workspace ${id} has no running container on this node`);
  return workspaceContainerOf(await inspectContainerJson(dockerSocketPath, first), repoDir);
}

export class WorkspaceNotRunning extends Error {}
