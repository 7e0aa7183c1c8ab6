import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Io, nodeIo } from "./io";
import { main } from "./main";

const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

async function berth(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { ...nodeIo(), out: (t) => out.push(t), err: (t) => err.push(t), env };
  const code = await main(argv, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const digest = `sha256:${"1".repeat(64)}`;
const good = file(
  "compose.yaml",
  `services:
  web:
    image: registry.example/web@${digest}
    environment:
      GREETING: \${GREETING:-hello}
      TOKEN:
        x-berth-secret: token
    healthcheck:
      test: ["CMD", "true"]
  worker:
    image: registry.example/worker:1
x-berth-routes:
  - { service: web, port: 8080, host: app.example.com }
`,
);
const bad = file(
  "bad.yaml",
  `services:
  web:
    image: nginx
    privileged: true
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
    restrat: always
`,
);

describe("berth validate", () => {
  it("prints the manifest as JSON and exits 0", async () => {
    const r = await berth(["validate", good, "--var", "GREETING=hi"]);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.out);
    expect(m.services.web.environment.GREETING).toEqual({ value: "hi" });
    expect(m.services.web.environment.TOKEN).toEqual({ secret: "token" });
  });

  it("prints one FILE:LINE:COL PATH line per problem and exits 2", async () => {
    const r = await berth(["validate", bad]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    const lines = r.err.split("\n");
    expect(lines.some((l) => l.startsWith(`${bad}:4:5 services.web.privileged:`))).toBe(true);
    expect(lines.some((l) => l.includes("services.web.volumes[0]") && /docker socket/i.test(l))).toBe(true);
    expect(lines.some((l) => l.includes("restrat") && l.includes("did you mean"))).toBe(true);
  });

  it("names a missing file, a folder, or no file at all, with exit 2", async () => {
    expect(await berth(["validate", join(dir, "nope.yaml")])).toMatchObject({
      code: 2,
      err: `berth: ${join(dir, "nope.yaml")}: no such file`,
    });
    expect((await berth(["validate", dir])).err).toContain("is a folder");
    expect((await berth(["validate"])).err).toContain("no Compose file given");
  });

  it("never prints a stack trace or exits with another code, whatever the input", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (text) => {
        const p = file("fuzz.yaml", text);
        const r = await berth(["validate", p]);
        expect([0, 2]).toContain(r.code);
        expect(r.err).not.toMatch(/\n\s+at /);
      }),
      { numRuns: 150 },
    );
  });
});

describe("berth render, keygen, sign and verify", () => {
  it("renders with pinned images, refusing unpinned ones with a hint", async () => {
    const refused = await berth(["render", good, "--environment", "prod", "--sequence", "1"]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(
      "services.worker: image registry.example/worker:1 is a tag; resolve it to a digest (--resolve) or pin it",
    );
    const r = await berth([
      "render",
      good,
      "--environment",
      "prod",
      "--sequence",
      "1",
      "--image",
      `worker=registry.example/worker@${digest}`,
    ]);
    expect(r.code).toBe(0);
    const rendered = parse(r.out);
    expect(rendered.services.worker.image).toBe(`registry.example/worker@${digest}`);
    expect(rendered.services.web.labels["berth.environment"]).toBe("prod");
  });

  it("makes keys, signs a release a node accepts, and refuses a tampered one", async () => {
    expect((await berth(["keygen", "signing", "--out", join(dir, "sign")])).out).toMatch(
      /key id ed25519:[0-9a-f]{32}/,
    );
    await berth(["keygen", "node", "--out", join(dir, "node")]);
    expect(statSync(join(dir, "sign.key")).mode & 0o777).toBe(0o600);
    writeFileSync(join(dir, "token"), "s3cret-token-value\n");
    const args = [
      "--environment",
      "prod",
      "--node",
      "node-1",
      "--sequence",
      "4",
      "--signing-key",
      join(dir, "sign.key"),
    ];
    const signed = await berth([
      "sign",
      good,
      ...args,
      "--node-key",
      join(dir, "node.pub"),
      "--secret",
      `token=@${join(dir, "token")}`,
      "--image",
      `worker=registry.example/worker@${digest}`,
      "--out",
      join(dir, "release.json"),
    ]);
    expect(signed.code).toBe(0);
    const text = readFileSync(join(dir, "release.json"), "utf8");
    expect(text).not.toContain("s3cret-token-value");
    const ok = await berth([
      "verify",
      join(dir, "release.json"),
      "--trusted-key",
      join(dir, "sign.pub"),
      "--environment",
      "prod",
      "--node",
      "node-1",
    ]);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.out).toMatch(/^ok: release 4 of prod for node node-1, signed by ed25519:/);
    const replay = await berth([
      "verify",
      join(dir, "release.json"),
      "--trusted-key",
      join(dir, "sign.pub"),
      "--environment",
      "prod",
      "--node",
      "node-1",
      "--applied",
      "4",
    ]);
    expect(replay.code).toBe(1);
    expect(replay.err).toContain("refused (STALE_SEQUENCE)");
    file("tampered.json", text.replace("prod", "prue"));
    const t = await berth([
      "verify",
      join(dir, "tampered.json"),
      "--trusted-key",
      join(dir, "sign.pub"),
      "--environment",
      "prod",
      "--node",
      "node-1",
    ]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/refused \((BAD_SIGNATURE|WRONG_ENVIRONMENT)\)/);
  });

  it("refuses a secret given on the command line, and a referenced secret with no value", async () => {
    const base = [
      "sign",
      good,
      "--environment",
      "prod",
      "--node",
      "n",
      "--sequence",
      "1",
      "--signing-key",
      join(dir, "sign.key"),
      "--node-key",
      join(dir, "node.pub"),
      "--image",
      `worker=registry.example/worker@${digest}`,
    ];
    expect((await berth([...base, "--secret", "token=plain"])).err).toContain("never on the command line");
    const missing = await berth(base);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("secret token referenced with x-berth-secret but not given a value");
  });

  it("has --help for every command and says what an unknown one is", async () => {
    for (const c of ["validate", "render", "keygen", "sign", "verify"]) {
      const r = await berth([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: berth ${c}`));
    }
    expect(await berth(["deploy"])).toMatchObject({ code: 2 });
    expect((await berth(["validate", "--bogus"])).err).toContain("Unknown option '--bogus'");
  });
});

describe("berth --version", () => {
  it("prints the package's version, as --version, -V and version", async () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as {
      version: string;
    };
    for (const arg of ["--version", "-V", "version"]) {
      const r = await berth([arg]);
      expect(r).toEqual({ code: 0, out: `berth ${pkg.version}`, err: "" });
    }
  });
});
