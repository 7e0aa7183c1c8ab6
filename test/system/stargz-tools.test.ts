// berth's two lazy-pulling programs (tools/stargz, installed by scripts/setup/stargz.sh), run as
// they are, without Docker: berth-estargz converts a small OCI layout made here, and both refuse
// bad input with a message that says what and where.

import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../lib/process";

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** An OCI layout with one image of one uncompressed layer holding `files`, as docker save writes it. */
async function layout(
  files: Record<string, string>,
): Promise<{ dir: string; config: Record<string, unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-estargz-test-"));
  roots.push(dir);
  const src = join(dir, "src");
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(src, p, ".."), { recursive: true });
    writeFileSync(join(src, p), c);
  }
  const blobs = join(dir, "layout", "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer | string) => {
    const d = sha(b);
    writeFileSync(join(blobs, d.slice(7)), b);
    return { digest: d, size: Buffer.byteLength(b) };
  };
  await run("tar", ["-c", "-f", join(dir, "layer.tar"), "-C", src, "."]);
  const layer = put(readFileSync(join(dir, "layer.tar")));
  const config = {
    architecture: "amd64",
    os: "linux",
    config: { Labels: { kept: "yes" } },
    rootfs: { type: "layers", diff_ids: [layer.digest] },
    "moby.buildkit.cache.v0": "inline-cache-stays",
  };
  const cfg = put(JSON.stringify(config));
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...cfg },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
    }),
  );
  writeFileSync(
    join(dir, "layout", "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "t" },
        },
      ],
    }),
  );
  writeFileSync(join(dir, "layout", "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  return { dir: join(dir, "layout"), config };
}

const blob = (dir: string, digest: string) => readFileSync(join(dir, "blobs", "sha256", digest.slice(7)));

describe("berth-estargz", () => {
  it("rewrites the layers as eStargz: TOC annotation, new diff ids, the config's other fields and the files kept", async () => {
    const { dir, config } = await layout({
      "etc/hello": "hello\n",
      "usr/bin/tool": "#!/bin/sh\necho tool\n",
    });
    await run("berth-estargz", [dir]);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].annotations).toEqual({ "org.opencontainers.image.ref.name": "t" });
    const m = JSON.parse(blob(dir, index.manifests[0].digest).toString());
    const [l] = m.layers;
    expect(l.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(l.annotations["containerd.io/snapshot/stargz/toc.digest"]).toMatch(/^sha256:[0-9a-f]{64}$/);
    const gz = blob(dir, l.digest);
    expect(sha(gz)).toBe(l.digest);
    const tar = gunzipSync(gz);
    expect(l.annotations["io.containers.estargz.uncompressed-size"]).toBe(String(tar.length));
    const cfg = JSON.parse(blob(dir, m.config.digest).toString());
    expect(cfg.rootfs.diff_ids).toEqual([sha(tar)]);
    expect({ ...cfg, rootfs: undefined }).toEqual({ ...config, rootfs: undefined });
    // The files read back (plus eStargz's table of contents and landmark).
    const out = join(dir, "..", "out");
    mkdirSync(out);
    writeFileSync(join(dir, "..", "converted.tar"), tar);
    await run("tar", ["-x", "-f", join(dir, "..", "converted.tar"), "-C", out]);
    expect(readFileSync(join(out, "etc/hello"), "utf8")).toBe("hello\n");
    expect(readFileSync(join(out, "usr/bin/tool"), "utf8")).toBe("#!/bin/sh\necho tool\n");
    // A layer that already is eStargz is kept as it is.
    await run("berth-estargz", [dir]);
    const again = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(JSON.parse(blob(dir, again.manifests[0].digest).toString()).layers[0].digest).toBe(l.digest);
  });

  it("refuses a folder that is not an OCI layout, and says which", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-estargz-test-"));
    roots.push(dir);
    const r = await run("berth-estargz", [dir], { allowFailure: true });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${dir} is not an OCI image layout`);
  });
});

describe("berth-stargz-snapshotter", () => {
  it("refuses a config with an unknown key, naming the file and the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-stargz-test-"));
    roots.push(dir);
    writeFileSync(join(dir, "c.json"), '{"no_prometheus": true, "prefetch_sise": 10}');
    const r = await run(
      "berth-stargz-snapshotter",
      ["-address", join(dir, "s.sock"), "-root", join(dir, "root"), "-config", join(dir, "c.json")],
      { allowFailure: true, timeoutMs: 30_000 },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`the config ${join(dir, "c.json")} is not valid`);
    expect(r.stderr).toContain('unknown field "prefetch_sise"');
  });
});
