// Every git, Docker and devcontainer CLI call a workspace needs, built as data (file + args) by
// pure functions: tested without running them, run by one runner (node-agent/docker.ts's
// isolatedRunner, on lib/process) with the environment each step is given.
import type { Command } from "../compose/commands";

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

export const pull = (ref: string): Command => docker("pull", "--quiet", ref);
export const tag = (from: string, to: string): Command => docker("tag", from, to);
export const push = (ref: string): Command => docker("push", "--quiet", ref);

/** The engine's data root (flushed while layers are written, when it is a folder of this machine). */
export const dataRoot = (): Command => docker("info", "--format", "{{.DockerRootDir}}");

/** Ids of the workspace's containers, running or not. */
export const containersOf = (workspaceId: string): Command =>
  docker("ps", "-aq", "--filter", `label=${WORKSPACE_LABEL}=${workspaceId}`);

/** Removes containers with their anonymous volumes (named ones, the home, stay). */
export const removeContainers = (ids: readonly string[]): Command => docker("rm", "-f", "-v", ...ids);

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
