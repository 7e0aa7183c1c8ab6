// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose and shell syntax in test data
// A `$` in a Swarm stack file berth renders: `docker stack deploy` interpolates every string of the
// file, `x-` extension fields included, so a config's content with `${X:?…}` in `x-berth` made it
// refuse the whole file. The real Docker CLI's `docker stack config` (the loader `docker stack
// deploy` runs, without deploying) reads the rendered file back: it accepts it, and what it makes
// of each string is what the Compose file meant. Without the escape it refuses the file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadCompose } from "../../contract/compose";
import { secretVersion } from "../../contract/swarm/names";
import { parseSwarmExtras, renderSwarmStack } from "../../contract/swarm/render";
import { run } from "../../lib/process";

/** What the config and the command hold once Compose's own `$$` escape is read. */
const LITERAL = "${BERTH_TEST_UNSET:?must stay literal} $HOME $$ $(id -u)";
const DIGEST = `sha256:${"1".repeat(64)}`;
const dir = mkdtempSync(join(tmpdir(), "berth-swarm-dollars-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rendered(): { text: string; content: string } {
  // In the Compose file, `$$` is a literal `$` (Compose's own escape): the manifest holds LITERAL.
  const esc = (s: string) => s.replaceAll("$", () => "$$");
  const r = loadCompose(
    `services:
  web:
    image: registry.example/acme/web:1
    command: ["sh", "-c", ${JSON.stringify(esc(LITERAL))}]
    configs:
      - { source: note, target: /etc/note }
configs:
  note:
    content: ${JSON.stringify(esc(LITERAL))}
`,
    { file: "compose.yaml" },
  );
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  expect(r.manifest.configs?.note?.content).toBe(LITERAL);
  const stack = renderSwarmStack(r.manifest, {
    environmentId: "dollars",
    sequence: 1,
    images: { web: `registry.example/acme/web@${DIGEST}` },
    volumeNodes: {},
    secretVersions: { unused: secretVersion(Buffer.alloc(32, 1), "dollars", "unused", "x") },
  });
  return { text: stack.text, content: stack.extras.configs[0]?.content ?? "" };
}

describe("a Swarm stack file with `$` in x-berth", () => {
  it("is read by docker stack deploy's loader as the Compose file meant it", async () => {
    const { text, content } = rendered();
    expect(content).toBe(LITERAL);
    const file = join(dir, "stack.yaml");
    writeFileSync(file, text);
    const r = await run("docker", ["stack", "config", "-c", file], { allowFailure: true });
    expect(r.exitCode, r.stderr).toBe(0);
    const read = parse(r.stdout);
    expect(read["x-berth"].configs[0].content).toBe(LITERAL);
    expect(read.services.web.command).toEqual(["sh", "-c", LITERAL]);
    // The agent reads the file's x-berth back as the program meant it.
    expect(parseSwarmExtras(parse(text)["x-berth"])?.configs[0]?.content).toBe(LITERAL);
  }, 60_000);

  it("unescaped, the same x-berth makes docker stack config refuse the whole file", async () => {
    const { text } = rendered();
    const doc = parse(text);
    doc["x-berth"].configs[0].content = LITERAL;
    const file = join(dir, "unescaped.yaml");
    writeFileSync(file, JSON.stringify(doc));
    const r = await run("docker", ["stack", "config", "-c", file], { allowFailure: true });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/x-berth\.configs.*must stay literal/);
  }, 60_000);
});
