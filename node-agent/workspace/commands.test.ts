// The cache push's script (commands.ts `push`), run by bash with stand-ins for docker, tar's
// input and skopeo on PATH: what it hands skopeo, what it leaves behind, and its fallbacks.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import type { LayerFormat } from "./cache-key";
import { push } from "./commands";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A bin folder with `docker` (save: a tar of an OCI layout, or of a legacy one; push: recorded)
 * and, unless left out, `skopeo` (records its arguments and the layout's files it was given);
 * with `estargz`, a `berth-estargz` that records its argument and marks the layout it converted.
 */
function fakes(o: { skopeo?: boolean; legacySave?: boolean; estargz?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), "berth-push-test-"));
  dirs.push(root);
  const bin = join(root, "bin");
  const tmp = join(root, "tmp");
  const log = join(root, "log");
  for (const d of [bin, tmp]) mkdirSync(d);
  // Only these tools and the fakes on PATH: the machine's own docker and skopeo stay out of reach.
  for (const t of ["bash", "mktemp", "tar", "rm", "ls", "mkdir"]) symlinkSync(`/usr/bin/${t}`, join(bin, t));
  const layout = join(root, "layout");
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script(
    "docker",
    [
      `echo "docker $*" >> ${log}`,
      'if [ "$1" = save ]; then',
      `  mkdir -p ${layout}/blobs/sha256 && echo layer > ${layout}/blobs/sha256/aa`,
      o.legacySave ? `  echo '[]' > ${layout}/manifest.json` : `  echo '{}' > ${layout}/index.json`,
      `  tar -c -C ${layout} .`,
      "fi",
    ].join("\n"),
  );
  if (o.estargz)
    script("berth-estargz", `echo "berth-estargz $*" >> ${log}\necho converted > "$1/blobs/sha256/bb"`);
  if (o.skopeo !== false)
    script(
      "skopeo",
      `echo "skopeo $*" >> ${log}\nd="\${@: -2:1}"; d="\${d#oci:}"; ls "$d" "$d/blobs/sha256" >> ${log}`,
    );
  return {
    bin,
    tmp,
    log: () => (existsSync(log) ? readFileSync(log, "utf8") : ""),
    run: (ref: string, layers: LayerFormat = "zstd") => {
      const c = push(ref, layers);
      return run(c.file, c.args, {
        isolatedEnv: true,
        env: { PATH: bin, TMPDIR: tmp },
        allowFailure: true,
      });
    },
  };
}

describe("push: the cache image with zstd layers", () => {
  it("saves the image, hands skopeo the OCI layout with zstd, and removes the layout", async () => {
    const f = fakes();
    const r = await f.run("127.0.0.1:5000/ns/app/devcontainer:default-abc");
    expect(r.exitCode).toBe(0);
    const log = f.log();
    expect(log).toContain("docker save 127.0.0.1:5000/ns/app/devcontainer:default-abc");
    expect(log).toMatch(
      /skopeo copy --quiet --dest-compress-format zstd --dest-tls-verify=false oci:\S+\/berth-push\.\w+ docker:\/\/127\.0\.0\.1:5000\/ns\/app\/devcontainer:default-abc/,
    );
    // skopeo saw the saved layout (its index and blobs).
    expect(log).toMatch(/index\.json/);
    expect(log).toMatch(/\baa\b/);
    expect(log).not.toContain("docker push");
    expect(readdirSync(f.tmp)).toEqual([]);
  });

  it("checks TLS for a registry that is not on the loopback", async () => {
    const f = fakes();
    expect((await f.run("rg.fr-par.scw.cloud/ns/a:b")).exitCode).toBe(0);
    expect(f.log()).toMatch(
      /skopeo copy --quiet --dest-compress-format zstd oci:\S+ docker:\/\/rg\.fr-par\.scw\.cloud\/ns\/a:b\n/,
    );
    const c = push("rg.fr-par.scw.cloud/ns/app/devcontainer:default-abc");
    expect(c.args).not.toContain("--dest-tls-verify=false");
    expect(push("localhost:5000/a:b").args).toContain("--dest-tls-verify=false");
    expect(push("127.0.0.1:5000/a:b").args).toContain("--dest-tls-verify=false");
  });

  it("eStargz (a lazy workspace node's repository): the layout's layers become eStargz, and skopeo pushes them as they are", async () => {
    const f = fakes({ estargz: true });
    const r = await f.run("127.0.0.1:5000/ns/app/devcontainer-estargz:default-abc", "estargz");
    expect(r.exitCode).toBe(0);
    const log = f.log();
    expect(log).toMatch(
      /docker save \S+\nberth-estargz \S+\/berth-push\.\w+\nskopeo copy --quiet --dest-tls-verify=false oci:\S+\/berth-push\.\w+ docker:\/\/127\.0\.0\.1:5000\/ns\/app\/devcontainer-estargz:default-abc\n/,
    );
    expect(log).not.toContain("zstd");
    // skopeo was given the converted layout.
    expect(log).toMatch(/\bbb\b/);
    expect(readdirSync(f.tmp)).toEqual([]);
  });

  it("zstd with berth-estargz on PATH (an engine without the snapshotter): zstd, not eStargz", async () => {
    const f = fakes({ estargz: true });
    const r = await f.run("127.0.0.1:5000/ns/app/devcontainer:default-abc");
    expect(r.exitCode).toBe(0);
    expect(f.log()).toContain("skopeo copy --quiet --dest-compress-format zstd");
    expect(f.log()).not.toContain("berth-estargz");
    expect(readdirSync(f.tmp)).toEqual([]);
  });

  it("eStargz without berth-estargz or skopeo: refused with the reason, never a gzip push", async () => {
    for (const o of [{ estargz: false }, { estargz: true, skopeo: false }]) {
      const f = fakes(o);
      const r = await f.run("127.0.0.1:5000/ns/a-estargz:b", "estargz");
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(o.estargz ? /skopeo is not installed/ : /berth-estargz is not installed/);
      expect(f.log()).toBe("");
    }
  });

  it("a failed conversion fails the push (and leaves no layout)", async () => {
    const f = fakes({ estargz: true });
    writeFileSync(
      join(f.bin, "berth-estargz"),
      "#!/bin/bash\necho 'berth-estargz: layer 0: bad tar' >&2\nexit 1\n",
    );
    const r = await f.run("127.0.0.1:5000/ns/a:b", "estargz");
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("bad tar");
    expect(f.log()).not.toContain("skopeo");
    expect(readdirSync(f.tmp)).toEqual([]);
  });

  it("without skopeo on the node: docker push, as before", async () => {
    const f = fakes({ skopeo: false });
    const r = await f.run("127.0.0.1:5000/ns/a:b");
    expect(r.exitCode).toBe(0);
    expect(f.log()).toBe("docker push --quiet 127.0.0.1:5000/ns/a:b\n");
  });

  it("an engine that saves the legacy format: docker push, and no layout left", async () => {
    const f = fakes({ legacySave: true });
    const r = await f.run("127.0.0.1:5000/ns/a:b");
    expect(r.exitCode).toBe(0);
    expect(f.log()).toMatch(
      /docker save 127\.0\.0\.1:5000\/ns\/a:b\ndocker push --quiet 127\.0\.0\.1:5000\/ns\/a:b\n$/,
    );
    expect(readdirSync(f.tmp)).toEqual([]);
  });

  it("a failed save fails the push (and leaves no layout)", async () => {
    const f = fakes();
    writeFileSync(join(f.bin, "docker"), "#!/bin/bash\necho 'no such image' >&2\nexit 1\n");
    const r = await f.run("127.0.0.1:5000/ns/a:b");
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("no such image");
    expect(readdirSync(f.tmp)).toEqual([]);
  });
});
