// An app written the way teams write Compose, through the loader, the renderer and the real agent
// on real Docker: a secret as a file (its mode and owner checked inside the container; its value
// absent from the node's disk, `docker inspect`, the agent's state and the channel), a config,
// env_file, init, user, read_only with tmpfs, and profiles.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diskProjectFiles, loadCompose, readComposeSecretValues } from "../../contract/compose";
import type { Manifest } from "../../contract/manifest/schema";
import { run } from "../../lib/process";
import { DEFAULT_FILES_ROOT, onTmpfs } from "../../node-agent/apply/files";
import { AgentHarness } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `files-${Math.random().toString(36).slice(2, 6)}`;
const SECRET = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const h = new AgentHarness();
const project = mkdtempSync(join(tmpdir(), "berth-files-app-"));
let manifest: Manifest;
let secrets: Record<string, string>;

/** Every regular file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p, { throwIfNoEntry: false }) as ReturnType<typeof statSync>;
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 50_000_000 && readFileSync(p).includes(needle)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

async function webContainer(): Promise<string> {
  const out = await run("docker", [
    "ps",
    "-q",
    "--filter",
    `label=berth.environment=${ENV}`,
    "--filter",
    "label=berth.service=web",
  ]);
  return out.stdout.trim().split("\n")[0] ?? "";
}

async function sh(id: string, script: string): Promise<string> {
  return (await run("docker", ["exec", id, "sh", "-c", script], { allowFailure: true })).stdout.trim();
}

beforeAll(async () => {
  const image = await testAppImage();
  writeFileSync(join(project, ".env"), `IMAGE=${image}\nMESSAGE=from-dotenv\n`);
  writeFileSync(join(project, "web.env"), "FROM_ENV_FILE=yes\nMESSAGE=from-env-file\n");
  writeFileSync(join(project, "db_password.txt"), SECRET);
  writeFileSync(
    join(project, "compose.yaml"),
    `services:
  web:
    image: \${IMAGE}
    init: true
    user: "1000:1000"
    read_only: true
    tmpfs: [/www]
    env_file: [web.env]
    environment:
      ROLE: web
      TOKEN: { x-berth-secret: token }
    secrets:
      - { source: db_password, uid: "1000", gid: "1000", mode: 0400 }
    configs:
      - { source: motd, target: /etc/motd }
    x-berth-health: { path: /health, port: 8080 }
  debug:
    image: \${IMAGE}
    profiles: [debug]
secrets:
  db_password: { file: ./db_password.txt }
configs:
  motd: { content: "hello from a config" }
x-berth-routes:
  - { service: web, port: 8080, host: app.test }
`,
  );
  const files = diskProjectFiles(project);
  const r = loadCompose(readFileSync(join(project, "compose.yaml"), "utf8"), {
    file: "compose.yaml",
    projectDir: project,
    files,
  });
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join("\n"));
  manifest = r.manifest;
  secrets = readComposeSecretValues(manifest, project, {}, files);
  await h.start({ healthTimeoutSeconds: 30 });
}, 600_000);

afterAll(async () => {
  await h.cleanup([ENV]);
  rmSync(project, { recursive: true, force: true });
  rmSync(join(DEFAULT_FILES_ROOT, h.nodeId, ENV), { recursive: true, force: true });
});

describe("Compose files on the real agent", () => {
  it("applies the app: only the services of active profiles, env_file merged", async () => {
    expect(Object.keys(manifest.services)).toEqual(["web"]);
    const status = await h.deploy(ENV, 1, manifest, { secrets });
    expect(status, `${status.error}\n${status.logTail}`).toMatchObject({ state: "applied" });
    expect(await h.get("/")).toEqual({ status: 200, body: "from-env-file" });
    const cs = await h.containers(ENV);
    expect(cs.map((c) => c.service)).toEqual(["web"]);
  });

  it("mounts the secret as a file with its owner and mode, and the config read-only", async () => {
    const id = await webContainer();
    expect(await sh(id, "cat /run/secrets/db_password")).toBe(SECRET);
    expect(await sh(id, "stat -c '%u %g %a' /run/secrets/db_password")).toBe("1000 1000 400");
    expect(await sh(id, "cat /etc/motd")).toBe("hello from a config");
    expect(await sh(id, "echo x > /etc/motd 2>/dev/null && echo wrote || echo refused")).toBe("refused");
  });

  it("runs with init, the user, a read-only root and a writable tmpfs, and the env_file's values", async () => {
    const id = await webContainer();
    expect(await sh(id, "cat /proc/1/comm")).toBe("docker-init");
    expect(await sh(id, "id -u; id -g")).toBe("1000\n1000");
    expect(await sh(id, "touch /x 2>/dev/null && echo wrote || echo refused")).toBe("refused");
    expect(await sh(id, "touch /www/x && echo wrote")).toBe("wrote");
    expect(await sh(id, "printenv FROM_ENV_FILE")).toBe("yes");
  });

  it("keeps the secret off the node's disk, out of docker inspect, the state and the channel", async () => {
    const id = await webContainer();
    const inspect = await run("docker", ["inspect", id]);
    expect(inspect.stdout).not.toContain(SECRET);
    expect(inspect.stdout).toContain(`${DEFAULT_FILES_ROOT}/${h.nodeId}/${ENV}/secrets/web/db_password`);
    expect(onTmpfs(join(DEFAULT_FILES_ROOT, h.nodeId, ENV, "secrets", "web"))).toBe(true);
    expect(filesContaining(h.stateRoot, SECRET)).toEqual([]);
    expect(filesContaining(h.channelDir, SECRET)).toEqual([]);
    // The container's own writable layer (on the node's disk) does not hold it either.
    const upper = execFileSync("docker", ["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", id], {
      encoding: "utf8",
    }).trim();
    expect(upper === "" || upper === "<no value>" ? [] : filesContaining(upper, SECRET)).toEqual([]);
  });
});
