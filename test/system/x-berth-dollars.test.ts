// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose and shell syntax in test data
// A `$` in x-berth's free text (a backup hook, a config's content) reaches the container as the
// Compose file wrote it: the node's Compose interpolates x-berth too, so the renderer writes `$$`
// and the agent reads it back. Through the loader, the renderer, the real agent and restic on
// real Docker and versitygw. Without the escape, Compose refuses the rendered file
// ("required variable … is missing a value") and the release fails; without the agent's
// unescape, the hook gets `$$` where the file meant `$`.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCompose } from "../../contract/compose";
import type { Manifest } from "../../contract/manifest/schema";
import { run } from "../../lib/process";
import { DEFAULT_FILES_ROOT } from "../../node-agent/apply/files";
import { AgentHarness } from "./support/agent-harness";
import {
  agentCli,
  backupSecrets,
  environmentBackup,
  serviceContainer,
  volumeFolder,
} from "./support/environment-backup";
import { testAppImage } from "./support/test-app-image";
import { Versitygw } from "./support/versitygw";

const ENV = `dollar-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
const gw = new Versitygw();
/** What the hook's last argument and the config hold once Compose's own `$$` escape is read. */
const LITERAL = "${BERTH_TEST_UNSET:?must stay literal} $HOME $$ $(id -u)";
let manifest: Manifest;

beforeAll(async () => {
  const image = await testAppImage();
  // In the Compose file, `$$` is a literal `$` (Compose's own escape): the manifest holds LITERAL.
  const esc = (s: string) => s.replaceAll("$", () => "$$");
  const text = `services:
  store:
    image: ${image}
    environment: { ROLE: store }
    volumes: [data:/data]
    configs:
      - { source: note, target: /etc/note }
    x-berth-health: { path: /starts, port: 9000 }
volumes:
  data:
    x-berth-backup:
      before:
        service: store
        command: ["sh", "-c", "printf %s \\"${esc("$1")}\\" > /data/hook-arg", "hook", "${esc(LITERAL)}"]
configs:
  note: { content: "${esc(LITERAL)}" }
x-berth-routes:
  - { service: store, port: 9000, host: files.test }
`;
  const r = loadCompose(text, { file: "compose.yaml" });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  manifest = r.manifest;
  await gw.start();
  await h.start({ healthTimeoutSeconds: 30 });
}, 600_000);

afterAll(async () => {
  await h.cleanup([ENV]);
  await gw.cleanup();
  rmSync(join(DEFAULT_FILES_ROOT, h.nodeId, ENV), { recursive: true, force: true });
});

describe("$ in x-berth", () => {
  it("the hook's and the config's literal $ reach the container", async () => {
    expect(manifest.volumes.data?.backup?.before?.command.at(-1)).toBe(LITERAL);
    const backup = environmentBackup(gw, "berth-dollars", {
      schedule: "0 3 * * *",
      retention: { last: 1 },
    });
    const s = await h.deploy(ENV, 1, manifest, { backup, secrets: backupSecrets(gw) });
    expect(s.state, `${s.error}\n${s.logTail}`).toBe("applied");

    const b = await agentCli(h, "backup", ENV);
    expect(b.code, b.out + b.err).toBe(0);
    expect(readFileSync(join(volumeFolder(h, ENV), "hook-arg"), "utf8")).toBe(LITERAL);

    const id = await serviceContainer(ENV, "store");
    expect((await run("docker", ["exec", id, "cat", "/etc/note"])).stdout).toBe(LITERAL);
  }, 240_000);
});
