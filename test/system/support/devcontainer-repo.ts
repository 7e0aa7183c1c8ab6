// A sample repository with a devcontainer (a Dockerfile on berth's base image installing a C
// toolchain from Debian's archive), as a git repository on disk with a `main` branch.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { run } from "../../../lib/process";

export const BASE_IMAGE = process.env.BERTH_BASE_IMAGE ?? "127.0.0.1:5000/berth/debian:trixie";

/**
 * The marker of a toolchain layer that is the same in every run: built once per Docker Engine, then
 * taken from its build cache. For tests that need an image with the toolchain but do not assert
 * on building it on the shared engine (a fresh second engine, a workspace's own BuildKit
 * container and a namespace unique to the run start without it anyway).
 */
export const SHARED_MARKER = "berth-sample-toolchain";

/** The Dockerfile; `marker` names its toolchain layer (one unique to a run: no engine has it cached). */
export function sampleDockerfile(
  marker: string,
  lastLine = "RUN echo one > /etc/berth-sample-line",
  packages = "gcc libc6-dev make",
): string {
  return [
    `FROM ${BASE_IMAGE}`,
    `RUN echo ${marker} >/etc/berth-sample-marker && apt-get update && apt-get install -y --no-install-recommends ${packages} && rm -rf /var/lib/apt/lists/*`,
    "RUN useradd --create-home --uid 1000 --shell /bin/bash dev",
    "COPY tools/ /opt/tools/",
    lastLine,
    "",
  ].join("\n");
}

export const sampleConfig = (extra: Record<string, unknown> = {}) =>
  `// the sample's devcontainer (JSON with comments)\n${JSON.stringify(
    {
      name: "sample",
      build: { dockerfile: "Dockerfile", context: ".." },
      remoteUser: "dev",
      postCreateCommand: "gcc --version > /tmp/post-create",
      ...extra,
    },
    null,
    2,
  )}\n`;

export async function git(dir: string, ...args: string[]): Promise<string> {
  const r = await run("git", args, {
    cwd: dir,
    env: {
      GIT_AUTHOR_NAME: "berth test",
      GIT_AUTHOR_EMAIL: "test@berth.invalid",
      GIT_COMMITTER_NAME: "berth test",
      GIT_COMMITTER_EMAIL: "test@berth.invalid",
    },
  });
  return r.stdout.trim();
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
}

export async function commit(dir: string, files: Record<string, string>, message: string): Promise<void> {
  writeFiles(dir, files);
  await git(dir, "add", "-A");
  await git(dir, "commit", "--quiet", "-m", message);
}

/** A git repository (branch `main`) holding the sample; returns its folder. */
export async function sampleRepository(
  marker: string,
  extra: Record<string, string> = {},
  packages?: string,
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "berth-sample-repo-"));
  await git(dir, "init", "--quiet", "--initial-branch", "main");
  await commit(
    dir,
    {
      ".devcontainer/devcontainer.json": sampleConfig(),
      ".devcontainer/Dockerfile": sampleDockerfile(marker, undefined, packages),
      "tools/hello.c": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
      "README.md": "sample\n",
      ...extra,
    },
    "sample",
  );
  return dir;
}

/** Removes the workspaces' state volumes (berth-ws-<id>-home) whose id holds `marker`. */
export async function removeStateVolumes(marker: string, env: Record<string, string> = {}): Promise<void> {
  const r = await run("docker", ["volume", "ls", "-q", "--filter", "label=berth.workspace"], { env });
  const ours = r.stdout.split("\n").filter((v) => v.startsWith("berth-ws-") && v.includes(marker));
  if (ours.length > 0) await run("docker", ["volume", "rm", "-f", ...ours], { env, allowFailure: true });
}

/**
 * Removes this file's images: those whose repository holds one of `markers`. By name (`rmi -f
 * NAME` removes that name only), never by id with -f: two files (or two checkouts) that build the
 * same Dockerfile get the same image id, and `docker rmi -f ID` takes the other file's tags with
 * it. An image left untagged under our repository (a tag that moved to a newer build) goes by id
 * without -f, which Docker refuses while any other repository still names it.
 */
export async function removeImagesNamed(markers: string[], env: Record<string, string> = {}): Promise<void> {
  const out = await run("docker", ["image", "ls", "--format", "{{.ID}} {{.Repository}} {{.Tag}}"], { env });
  const ours = out.stdout
    .split("\n")
    .map((l) => l.split(" "))
    .filter(([, repo]) => repo !== undefined && markers.some((m) => repo.includes(m)));
  const named = ours.filter(([, , tag]) => tag && tag !== "<none>").map(([, repo, tag]) => `${repo}:${tag}`);
  if (named.length > 0) await run("docker", ["rmi", "-f", ...named], { env, allowFailure: true });
  const untagged = [...new Set(ours.filter(([, , tag]) => tag === "<none>").map(([id]) => id as string))];
  for (const id of untagged) await run("docker", ["rmi", id], { env, allowFailure: true });
}
