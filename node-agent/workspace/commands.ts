// Every git, Docker and devcontainer CLI call a workspace needs, built as data (file + args) by
// pure functions: tested without running them, run by one runner (node-agent/docker.ts's
// isolatedRunner, on lib/process) with the environment each step is given.
import type { Command } from "../compose/commands";
import { isLoopbackHost } from "./builder";
import type { LayerFormat } from "./cache-key";

export type { Command };

/** The label that finds a workspace's containers (and its state volume) again. */
export const WORKSPACE_LABEL = "berth.workspace";

const docker = (...args: string[]): Command => ({ file: "docker", args });

/** A shallow clone of one branch, with no tags and no prompt for a password. */
export function gitClone(repository: string, branch: string, dir: string): Command {
  return {
    file: "git",
    args: [
      "clone",
      "--quiet",
      "--depth",
      "1",
      "--single-branch",
      "--no-tags",
      "--branch",
      branch,
      "--",
      repository,
      dir,
    ],
  };
}

/**
 * Git in the agent's own bare copy of the branch (`<workspace dir>/branch.git`, which no container
 * sees). Never in the working tree: its `.git` belongs to the workspace, whose config and hooks
 * would run as the agent.
 */
const gitIn = (gitDir: string, ...args: string[]): Command => ({
  file: "git",
  args: ["--git-dir", gitDir, ...args],
});

export const gitInitBare = (gitDir: string): Command => ({
  file: "git",
  args: ["init", "--quiet", "--bare", gitDir],
});

/** The branch's whole history into the copy's `refs/heads/<branch>`. */
export const gitFetchBranch = (gitDir: string, repository: string, branch: string): Command =>
  gitIn(
    gitDir,
    "fetch",
    "--quiet",
    "--no-tags",
    "--",
    repository,
    `+refs/heads/${branch}:refs/heads/${branch}`,
  );

export const gitRevParse = (gitDir: string, ref: string): Command =>
  gitIn(gitDir, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`);

/** Exit 0 when `a` is an ancestor of `b` (1: it is not; 128: one is unknown here). */
export const gitIsAncestor = (gitDir: string, a: string, b: string): Command =>
  gitIn(gitDir, "merge-base", "--is-ancestor", a, b);

export const gitArchive = (gitDir: string, commit: string, file: string): Command =>
  gitIn(gitDir, "archive", "--format=tar", "-o", file, commit);

export const untar = (file: string, dir: string): Command => ({
  file: "tar",
  args: ["-x", "--no-same-owner", "-f", file, "-C", dir],
});

/** The branch's commits since `base` (all of them without one), for the working tree's fetch. */
export const gitBundle = (gitDir: string, branch: string, file: string, base?: string): Command =>
  gitIn(gitDir, "bundle", "create", "--quiet", file, `refs/heads/${branch}`, ...(base ? [`^${base}`] : []));

export const copyInto = (file: string, container: string, path: string): Command =>
  docker("cp", file, `${container}:${path}`);

/**
 * In the workspace's container, as its remote user: fetch the bundle and fast-forward the tree to
 * `commit`. git itself refuses to overwrite uncommitted or untracked work.
 */
export const advanceTreeInContainer = (
  container: string,
  user: string,
  folder: string,
  bundle: string,
  branch: string,
  commit: string,
): Command =>
  docker(
    "exec",
    "-u",
    user,
    "-w",
    folder,
    container,
    "sh",
    "-c",
    'git fetch --quiet --no-tags "$1" "refs/heads/$2" && git merge --ff-only --quiet "$3"',
    "berth-follow",
    bundle,
    branch,
    commit,
  );

export const removeInContainer = (container: string, path: string): Command =>
  docker("exec", "-u", "root", container, "rm", "-f", "--", path);

export const pull = (ref: string): Command => docker("pull", "--quiet", ref);
export const tag = (from: string, to: string): Command => docker("tag", from, to);
/**
 * Pushes `ref` from the engine to its registry. `docker save` writes an OCI layout (Engine 25 and
 * later), pushed by skopeo, its layers in the repository's format (cache-key.ts `LayerFormat`):
 * - `estargz` (a lazy workspace node: its engine's storage driver is the stargz snapshotter,
 *   contract/node/lazy-pull.ts): the layers are rewritten as eStargz first by berth-estargz
 *   (scripts/setup/stargz.sh; on a cloud node, installed from the channel): gzip tars with a table
 *   of contents, which the next such node pulls lazily (the container starts before the bytes are
 *   local). The config keeps every field but the layers' diff ids (BuildKit's inline cache in it
 *   still describes the chain). Those images live in a repository of their own: an engine without
 *   the snapshotter would unpack their tables of contents into the container's root;
 * - `zstd`: zstd-compressed layers, which a fresh node pulls with less CPU than `docker push`'s
 *   gzip (0.83–0.93x of the time on a busy 2-core machine, 1.04x on a quiet one:
 *   docs/benchmarks.md); the config stays the image's own bytes (the same image id).
 * The layout is written under $TMPDIR or else /var/tmp (disk, where /tmp may be a tmpfs), and
 * removed. Where skopeo is missing, or the engine saves an older format, a zstd push is `docker
 * push` (gzip) as before; an eStargz push without berth-estargz fails, saying so.
 */
const PUSH_SCRIPT = `set -euo pipefail
layers="$1"; shift
ref="\${@: -1}"
if [ "$layers" = estargz ]; then
  command -v berth-estargz >/dev/null || { echo "berth-estargz is not installed: an eStargz push needs it (the node's lazy-pulling tools)" >&2; exit 1; }
  command -v skopeo >/dev/null || { echo "skopeo is not installed: an eStargz push needs it" >&2; exit 1; }
else
  command -v skopeo >/dev/null || exec docker push --quiet "$ref"
fi
d=$(mktemp -d "\${TMPDIR:-/var/tmp}/berth-push.XXXXXX")
trap 'rm -rf "$d"' EXIT
docker save "$ref" | tar -x -C "$d"
if [ ! -f "$d/index.json" ]; then
  [ "$layers" != estargz ] || { echo "docker save wrote no OCI layout (Engine 25 or later is needed for an eStargz push)" >&2; exit 1; }
  rm -rf "$d"; trap - EXIT; exec docker push --quiet "$ref"
fi
if [ "$layers" = estargz ]; then
  berth-estargz "$d"
  skopeo copy --quiet "\${@:1:$#-1}" "oci:$d" "docker://$ref"
else
  skopeo copy --quiet --dest-compress-format zstd "\${@:1:$#-1}" "oci:$d" "docker://$ref"
fi`;

export function push(ref: string, layers: LayerFormat = "zstd"): Command {
  // Docker reaches a loopback registry over plain HTTP; skopeo must be told.
  const plainHttp = isLoopbackHost(ref.split("/")[0] ?? "") ? ["--dest-tls-verify=false"] : [];
  return { file: "bash", args: ["-c", PUSH_SCRIPT, "berth-push", layers, ...plainHttp, ref] };
}

/** The engine's storage driver (`stargz` on a lazy workspace node: cache-key.ts layerFormatOf). */
export const storageDriver = (): Command => docker("info", "--format", "{{.Driver}}");

/** The engine's data root (flushed while layers are written, when it is a folder of this machine). */
export const dataRoot = (): Command => docker("info", "--format", "{{.DockerRootDir}}");

/** Ids of the workspace's containers, running or not. */
export const containersOf = (workspaceId: string): Command =>
  docker("ps", "-aq", "--filter", `label=${WORKSPACE_LABEL}=${workspaceId}`);

/** Removes containers with their anonymous volumes (named ones, the home, stay). */
export const removeContainers = (ids: readonly string[]): Command => docker("rm", "-f", "-v", ...ids);

/** Stops containers, kept with their state (an idle workspace). */
export const stopContainers = (ids: readonly string[]): Command => docker("stop", ...ids);

/** Starts stopped containers again (a workspace woken by an access). */
export const startContainers = (ids: readonly string[]): Command => docker("start", ...ids);

/** Removes one container, its volumes kept. */
export const removeContainer = (id: string): Command => docker("rm", "-f", id);

/** The image's id, USER and devcontainer metadata label, tab-separated. */
export const inspectImage = (image: string): Command =>
  docker(
    "image",
    "inspect",
    "--format",
    // (`with`: an image without labels has none to index, and `index` would fail on it.)
    '{{.Id}}\t{{.Config.User}}\t{{with .Config.Labels}}{{index . "devcontainer.metadata"}}{{end}}',
    image,
  );

/** The image id a container runs. */
export const containerImage = (container: string): Command =>
  docker("container", "inspect", "--format", "{{.Image}}", container);

/** Where a named volume's files are on the node. */
export const volumeMountpoint = (name: string): Command =>
  docker("volume", "inspect", "--format", "{{.Mountpoint}}", name);

export const createVolume = (name: string, labels: Record<string, string>): Command =>
  docker("volume", "create", ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]), name);

/** `id -u USER` and `id -g USER` inside a running container, as root, in one exec. */
export const userIds = (container: string, user: string): Command =>
  docker("exec", "-u", "root", container, "sh", "-c", 'id -u "$1" && id -g "$1"', "sh", user);

function idLabelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([k, v]) => ["--id-label", `${k}=${v}`]);
}

export interface DevcontainerBuild {
  cli: string;
  workspaceFolder: string;
  configFile: string;
  imageName: string;
  cacheFrom: readonly string[];
}

/**
 * `devcontainer build`. The CLI builds with `docker buildx build --build-arg
 * BUILDKIT_INLINE_CACHE=1` itself (it has no --build-arg flag): the image carries its cache
 * metadata when pushed.
 */
export function devcontainerBuild(b: DevcontainerBuild): Command {
  return {
    file: b.cli,
    args: [
      "build",
      "--workspace-folder",
      b.workspaceFolder,
      "--config",
      b.configFile,
      "--image-name",
      b.imageName,
      ...b.cacheFrom.flatMap((c) => ["--cache-from", c]),
      "--log-format",
      "json",
    ],
  };
}

export interface DevcontainerUp {
  cli: string;
  workspaceFolder: string;
  overrideConfig: string;
  idLabels: Record<string, string>;
  /**
   * Started from an image: nothing left to build, so none of the CLI's probes for building
   * (`docker buildx version`) stand between the pull and the running container.
   */
  fromImage: boolean;
}

/** `devcontainer up`; the workspace folder is the clone's root, so no `git rev-parse` probe either. */
export function devcontainerUp(u: DevcontainerUp): Command {
  return {
    file: u.cli,
    args: [
      "up",
      "--workspace-folder",
      u.workspaceFolder,
      "--override-config",
      u.overrideConfig,
      ...idLabelArgs(u.idLabels),
      // The image was built for any node: no per-node `-uid` rebuild unless the config asks.
      "--update-remote-user-uid-default",
      "never",
      "--mount-workspace-git-root",
      "false",
      ...(u.fromImage ? ["--buildkit", "never"] : []),
      "--log-format",
      "json",
    ],
  };
}
