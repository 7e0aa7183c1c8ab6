// bench:devcontainer's compression part (BENCH_PART=pull): a plain `docker pull` of a gzip image
// against the same image with zstd layers (bench/zstd-copy.ts), each on an empty Docker Engine
// of its own (a fresh node), interleaved; and the gzip pull again with more parallel layer
// downloads (dockerd's max-concurrent-downloads).
import { run } from "../lib/process";
import { startSecondEngine } from "../test/system/support/second-engine";
import { REGISTRY } from "../test/system/support/test-app-image";
import { zstdCopy } from "./zstd-copy";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" ");

async function pullOnFreshEngine(ref: string, dockerdArgs: string[] = []): Promise<number> {
  const engine = await startSecondEngine({ dockerdArgs });
  try {
    const env = { DOCKER_HOST: engine.host, DOCKER_CONFIG: process.env.BERTH_DOCKER_CONFIG ?? "" };
    const t = Date.now();
    await run("docker", ["pull", "--quiet", ref], { env, timeoutMs: 600_000 });
    return (Date.now() - t) / 1000;
  } finally {
    await engine.stop();
  }
}

/** `gzipRef`: REGISTRY/REPO:TAG of a gzip image in the local registry. */
export async function pullCompression(gzipRef: string, runs: number): Promise<string[]> {
  const [repo, tag] = gzipRef.slice(`${REGISTRY}/`.length).split(":") as [string, string];
  const auth = `${process.env.BERTH_REGISTRY_USER ?? ""}:${process.env.BERTH_REGISTRY_PASSWORD ?? ""}`;
  const zstdRef = await zstdCopy(REGISTRY, repo, tag, auth);
  const gz: number[] = [];
  const zs: number[] = [];
  const gzParallel: number[] = [];
  for (let i = 0; i < runs; i++) {
    gz.push(await pullOnFreshEngine(gzipRef));
    zs.push(await pullOnFreshEngine(zstdRef));
    gzParallel.push(await pullOnFreshEngine(gzipRef, ["--max-concurrent-downloads", "8"]));
  }
  const g = median(gz);
  return [
    `plain docker pull, gzip layers: median ${g.toFixed(2)} s [${list(gz)}]`,
    `docker pull, the same image with zstd layers: median ${median(zs).toFixed(2)} s [${list(zs)}] → ${(median(zs) / g).toFixed(2)}x`,
    `docker pull, gzip, max-concurrent-downloads 8 (default 3): median ${median(gzParallel).toFixed(2)} s [${list(gzParallel)}] → ${(median(gzParallel) / g).toFixed(2)}x`,
  ];
}

if (require.main === module) {
  const ref = process.argv[2];
  if (!ref) throw new Error("usage: tsx bench/pull-compression.ts REGISTRY/REPO:TAG");
  pullCompression(ref, Number(process.env.BENCH_RUNS ?? 3)).then(
    (lines) => {
      for (const l of lines) console.log(l);
    },
    (e) => {
      console.error(`pull-compression: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
