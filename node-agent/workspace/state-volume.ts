// A workspace's state outlives its container: the remote user's home (dotfiles, shell history,
// coding agents' session folders such as ~/.claude) lives on a named Docker volume, mounted by
// the start config, so a rebuilt image or a changed devcontainer loses nothing. (The working tree
// is the clone on the node, bound into the container, so it survives as well.) Docker fills an
// empty named volume from the image's folder at the first mount, so the image's own dotfiles are
// there on the first start. Pure: the executor does the Docker calls.
//
// The volume is keyed by workspace, branch and trust level: a workspace moved to another branch,
// or from trusted to untrusted (or back), starts from a home of its own, so what a trusted
// branch's tools left there (tokens, shell history) never reaches an untrusted one.
import { createHash } from "node:crypto";

export interface StateKey {
  workspaceId: string;
  branch: string;
  trusted: boolean;
}

/** Every named volume of the workspace starts with this (untrusted configs may mount only these). */
export function volumePrefix(k: StateKey): string {
  const branch = createHash("sha256").update(k.branch).digest("hex").slice(0, 12);
  return `berth-ws-${k.workspaceId}-${k.trusted ? "t" : "u"}${branch}-`;
}

export function stateVolumeName(k: StateKey): string {
  return `${volumePrefix(k)}home`;
}

interface MetadataEntry {
  remoteUser?: unknown;
  containerUser?: unknown;
}

/**
 * The user the workspace's tools run as: the start config's remoteUser, else the image's
 * devcontainer metadata (its last remoteUser, else its last containerUser), else the image's
 * USER, else root. `metadataLabel`: the image's `devcontainer.metadata` label (JSON), if any.
 */
export function remoteUserOf(
  startConfig: Record<string, unknown>,
  metadataLabel: string | undefined,
  imageUser: string | undefined,
): string {
  if (typeof startConfig.remoteUser === "string" && startConfig.remoteUser) return startConfig.remoteUser;
  let entries: MetadataEntry[] = [];
  try {
    const parsed = metadataLabel ? (JSON.parse(metadataLabel) as unknown) : [];
    entries = (Array.isArray(parsed) ? parsed : [parsed]).filter((e) => e && typeof e === "object");
  } catch {
    entries = [];
  }
  const last = (k: keyof MetadataEntry) =>
    entries
      .map((e) => e[k])
      .filter((v): v is string => typeof v === "string" && v !== "")
      .at(-1);
  const user = last("remoteUser") ?? last("containerUser") ?? (imageUser?.split(":")[0] || undefined);
  return user ?? "root";
}

/** The user's home by Debian's convention; undefined for a numeric uid other than 0. */
export function homeOf(user: string): string | undefined {
  if (user === "root" || user === "0") return "/root";
  if (/^\d+$/.test(user)) return undefined;
  return `/home/${user}`;
}

/** The start config with the state volume mounted at `home` (other mounts kept). */
export function withStateMount(
  startConfig: Record<string, unknown>,
  volume: string,
  home: string,
): Record<string, unknown> {
  const mounts = Array.isArray(startConfig.mounts) ? startConfig.mounts : [];
  return { ...startConfig, mounts: [...mounts, `source=${volume},target=${home},type=volume`] };
}
