// The same image with its layers compressed by zstd instead of gzip, pushed beside it in the
// registry (`<tag>-zstd`), for bench:devcontainer's compression lever: each layer is read from the
// registry, decompressed and compressed again (unpigz | zstd), uploaded as a new blob, and an OCI
// manifest names them with the gzip image's own config (the layers' uncompressed content, and so
// their diff ids, stay the same).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { request } from "node:http";

interface Layer {
  mediaType: string;
  size: number;
  digest: string;
}

function http(
  method: string,
  url: string,
  auth: string,
  o: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          authorization: `Basic ${Buffer.from(auth).toString("base64")}`,
          ...o.headers,
          ...(o.body ? { "content-length": String(o.body.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on("error", reject);
    if (o.body) req.write(o.body);
    req.end();
  });
}

/** gzip bytes → zstd bytes, through unpigz and zstd (level 3, every core). */
function recompress(gz: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sh = spawn("bash", ["-c", "unpigz -c | zstd -3 -T0 -q -c"], { stdio: ["pipe", "pipe", "inherit"] });
    const out: Buffer[] = [];
    sh.stdout.on("data", (c: Buffer) => out.push(c));
    sh.on("error", reject);
    sh.on("close", (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`recompress: exit ${code}`)),
    );
    sh.stdin.end(gz);
  });
}

/** Pushes `<registry>/<repo>:<tag>-zstd` from `<registry>/<repo>:<tag>`; returns its reference. */
export async function zstdCopy(registry: string, repo: string, tag: string, auth: string): Promise<string> {
  const base = `http://${registry}/v2/${repo}`;
  const m = await http("GET", `${base}/manifests/${tag}`, auth, {
    headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
  });
  if (m.status !== 200) throw new Error(`manifest ${repo}:${tag}: ${m.status}`);
  const manifest = JSON.parse(m.body.toString()) as { config: Layer; layers: Layer[] };
  const layers: Layer[] = [];
  for (const l of manifest.layers) {
    const blob = await http("GET", `${base}/blobs/${l.digest}`, auth);
    if (blob.status !== 200) throw new Error(`blob ${l.digest}: ${blob.status}`);
    const z = await recompress(blob.body);
    const digest = `sha256:${createHash("sha256").update(z).digest("hex")}`;
    const start = await http("POST", `${base}/blobs/uploads/`, auth);
    const location = String(start.headers.location);
    const put = new URL(location, `http://${registry}`);
    put.searchParams.set("digest", digest);
    const done = await http("PUT", put.toString(), auth, {
      headers: { "content-type": "application/octet-stream" },
      body: z,
    });
    if (done.status !== 201) throw new Error(`upload ${digest}: ${done.status} ${done.body}`);
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", size: z.length, digest });
  }
  const oci = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { ...manifest.config, mediaType: "application/vnd.oci.image.config.v1+json" },
    layers,
  };
  const put = await http("PUT", `${base}/manifests/${tag}-zstd`, auth, {
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: Buffer.from(JSON.stringify(oci)),
  });
  if (put.status !== 201) throw new Error(`manifest ${tag}-zstd: ${put.status} ${put.body}`);
  return `${registry}/${repo}:${tag}-zstd`;
}
