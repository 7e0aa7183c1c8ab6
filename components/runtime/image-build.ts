// The ImageBuild dynamic provider's logic: `docker buildx build --push` of a build context into
// the environment's registry namespace, with the pushed image as inline cache for the next build
// (a fresh machine builds at the speed of a pull). Rebuilds only when the context's content hash,
// the Dockerfile (or dockerfile_inline), the build args, labels, named contexts, platform or the
// target change.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { dockerConfigJson } from "../../contract/release/registry-credentials";
import { run } from "../../lib/process";

export interface ImageBuildInputs {
  berthKind: "image-build";
  berthProviderVersion: string;
  /** Absolute path of the build context. */
  context: string;
  dockerfile?: string;
  args: Record<string, string>;
  target?: string;
  /** The Dockerfile's text (Compose's dockerfile_inline); then `dockerfile` is absent. */
  dockerfileInline?: string;
  /** Labels on the image. */
  labels?: Record<string, string>;
  /** Named build contexts: an absolute folder, or `docker-image://REF` (another service's image). */
  additionalContexts?: Record<string, string>;
  /** `linux/amd64` or `linux/arm64`: the node's platform. */
  platform?: string;
  /** `host/namespace/name`, no tag. */
  repository: string;
  /** A hash of the context's files: the tag, and what a rebuild is decided on. */
  contextHash: string;
  registryHost: string;
  username: string;
  password: string;
}

export interface ImageBuildOutputs extends ImageBuildInputs {
  digest: string;
  /** How long the last build and push took. */
  buildSeconds: number;
  /** Of that, how long BuildKit spent pushing (its `pushing …` steps). */
  pushSeconds?: number;
  /** `repository@sha256:…` */
  pinned: string;
}

/** `inlineDockerfile`: where build() wrote `dockerfileInline`, when there is one. */
export function buildArgs(i: ImageBuildInputs, metadataFile: string, inlineDockerfile?: string): string[] {
  const tag = `${i.repository}:${i.contextHash.slice(0, 16)}`;
  const cache = `${i.repository}:latest`;
  return [
    "buildx",
    "build",
    "--push",
    "--progress",
    "plain",
    "--metadata-file",
    metadataFile,
    "--build-arg",
    "BUILDKIT_INLINE_CACHE=1",
    "--cache-from",
    cache,
    ...Object.entries(i.args)
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
    ...(i.dockerfile ? ["--file", join(i.context, i.dockerfile)] : []),
    ...(inlineDockerfile ? ["--file", inlineDockerfile] : []),
    ...(i.target ? ["--target", i.target] : []),
    ...(i.platform ? ["--platform", i.platform] : []),
    ...Object.entries(i.labels ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    ...Object.entries(i.additionalContexts ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([k, v]) => ["--build-context", `${k}=${v}`]),
    "--tag",
    tag,
    "--tag",
    cache,
    i.context,
  ];
}

/** Seconds BuildKit's plain progress says its `pushing …` steps took (`#12 pushing layers 0.3s done`). */
export function pushSecondsOf(progress: string): number {
  let total = 0;
  for (const m of progress.matchAll(/^#\d+ pushing .*?(\d+(?:\.\d+)?)s done$/gm)) total += Number(m[1]);
  return Math.round(total * 1000) / 1000;
}

async function build(i: ImageBuildInputs): Promise<ImageBuildOutputs> {
  const dir = mkdtempSync(join(tmpdir(), "berth-build-"));
  const started = Date.now();
  try {
    writeFileSync(
      join(dir, "config.json"),
      dockerConfigJson({ [i.registryHost]: { username: i.username, password: i.password } }),
      {
        mode: 0o600,
      },
    );
    const metadata = join(dir, "metadata.json");
    const inline = i.dockerfileInline ? join(dir, "Dockerfile") : undefined;
    if (inline) writeFileSync(inline, i.dockerfileInline as string);
    const r = await run("docker", buildArgs(i, metadata, inline), {
      env: { DOCKER_CONFIG: dir, BUILDX_NO_DEFAULT_ATTESTATIONS: "1" },
      redact: [i.password],
      timeoutMs: 30 * 60_000,
    });
    const digest = (JSON.parse(readFileSync(metadata, "utf8")) as Record<string, string>)[
      "containerimage.digest"
    ];
    if (!digest?.startsWith("sha256:"))
      throw new Error(`docker buildx wrote no image digest for ${i.repository}`);
    return {
      ...i,
      digest,
      pinned: `${i.repository}@${digest}`,
      buildSeconds: (Date.now() - started) / 1000,
      pushSeconds: pushSecondsOf(r.stderr),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function diff(
  _id: string,
  olds: ImageBuildOutputs,
  news: ImageBuildInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const keys = [
    "contextHash",
    "dockerfile",
    "dockerfileInline",
    "args",
    "target",
    "labels",
    "additionalContexts",
    "platform",
    "repository",
    "berthProviderVersion",
  ] as const;
  const changes = keys.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
  return { changes, replaces: [], deleteBeforeReplace: false };
}

export async function create(news: ImageBuildInputs): Promise<pulumi.dynamic.CreateResult> {
  const outs = await build(news);
  return { id: outs.pinned, outs };
}

export async function update(
  _id: string,
  _olds: ImageBuildOutputs,
  news: ImageBuildInputs,
): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await build(news) };
}
