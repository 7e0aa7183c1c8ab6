// The GitHub Actions workflows against GitHub's own workflow schema and parser
// (@actions/workflow-parser, the parser of GitHub's language services): syntax, keys, expression
// syntax and job structure. Also that the validator does refuse a broken workflow.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const DIR = join(__dirname, "..", "..", ".github", "workflows");

interface WorkflowParser {
  parseWorkflow(
    file: { name: string; content: string },
    trace: unknown,
  ): { context: { errors: { getErrors(): { message: string }[] } }; value: unknown };
  convertWorkflowTemplate(
    context: unknown,
    root: unknown,
    fileProvider?: unknown,
    options?: { errorPolicy?: number },
  ): Promise<{ errors?: { Message: string }[]; jobs?: { id?: { value?: string } }[] }>;
  NoOperationTraceWriter: new () => unknown;
}

// ESM-only package: loaded with import() (vitest resolves its `import` export condition).
const load = () => import("@actions/workflow-parser") as unknown as Promise<WorkflowParser>;

async function problems(name: string, content: string): Promise<string[]> {
  const wp = await load();
  const parsed = wp.parseWorkflow({ name, content }, new wp.NoOperationTraceWriter());
  const out = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value) {
    const template = await wp.convertWorkflowTemplate(parsed.context, parsed.value);
    out.push(...(template.errors ?? []).map((e) => e.Message));
  }
  return [...new Set(out)];
}

describe("GitHub Actions workflows", () => {
  const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));

  it("has the preview, deploy and renew workflows", () => {
    expect(files.sort()).toEqual(expect.arrayContaining(["deploy.yml", "preview.yml", "renew.yml"]));
  });

  it("renew.yml runs `pulumi up` on a schedule, in deploy.yml's concurrency group", () => {
    const doc = parse(readFileSync(join(DIR, "renew.yml"), "utf8")) as {
      on: { schedule: { cron: string }[] };
      concurrency: { group: string; "cancel-in-progress": boolean };
      jobs: Record<string, { steps: { uses?: string; with?: { command?: string } }[] }>;
    };
    const deploy = parse(readFileSync(join(DIR, "deploy.yml"), "utf8")) as { concurrency: { group: string } };
    // Every 6 hours: well inside a day, the shortest renewal window (registry credentials).
    expect(doc.on.schedule).toEqual([{ cron: "17 */6 * * *" }]);
    expect(doc.concurrency).toEqual({ group: deploy.concurrency.group, "cancel-in-progress": false });
    const steps = Object.values(doc.jobs).flatMap((j) => j.steps);
    expect(steps.some((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === "up")).toBe(true);
  });

  for (const f of files) {
    it(`${f} is valid for GitHub's workflow schema`, async () => {
      expect(await problems(f, readFileSync(join(DIR, f), "utf8"))).toEqual([]);
    });
  }

  it("the validator refuses an unknown key, a job without steps and a broken expression", async () => {
    const bad = [
      "on: pull_request",
      "jobs:",
      "  one:",
      "    runs-on: ubuntu-24.04",
      "    stepz: []",
      "  two:",
      "    runs-on: ${{ matrix.os",
      "    steps:",
      "      - run: echo hi",
    ].join("\n");
    const found = await problems("bad.yml", bad);
    expect(found.length).toBeGreaterThanOrEqual(2);
    expect(found.join("\n")).toMatch(/stepz/);
  });

  it("comments with the marker berth preview-summary writes first", async () => {
    const { COMMENT_MARKER } = await import("../../cli/preview-summary/markdown");
    expect(readFileSync(join(DIR, "preview.yml"), "utf8")).toContain(COMMENT_MARKER);
  });
});
