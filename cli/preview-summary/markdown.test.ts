// The preview summary on real `pulumi preview --json` output of the local stack, captured by
// test/system/preview-summary.test.ts (BERTH_WRITE_PREVIEW_TESTDATA=1 rewrites testdata/):
//   create.json          digest of a first preview: two environments, demo and legacy
//   update.json          digest after a deployed state (demo at release 4, legacy at 2): legacy
//                        removed; demo's GREETING changed, worker env keys added/removed (one a
//                        secret), a volume and a route added, the app's source changed, the
//                        api-token secret rotated
//   update-events.jsonl  the same preview as an event stream with the policy pack
//                        (PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true), debug lines dropped
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMENT_MARKER, previewMarkdown, shortDigest, showValue } from "./markdown";
import { parsePreview } from "./parse";

const data = (f: string) => readFileSync(join(__dirname, "testdata", f), "utf8");

describe("berth preview-summary on real preview JSON", () => {
  const update = previewMarkdown(parsePreview(data("update.json")));
  const events = previewMarkdown(parsePreview(data("update-events.jsonl")));

  it("starts with the marker the workflow finds its comment by, then the counts", () => {
    expect(update.startsWith(`${COMMENT_MARKER}\n### berth preview: stack`)).toBe(true);
    expect(update).toContain("Changes: 3 to delete, 2 to update.");
  });

  it("calls out what is removed before anything else", () => {
    const removed = update.indexOf("#### ⚠️ Removed or replaced");
    expect(removed).toBeGreaterThan(0);
    expect(removed).toBeLessThan(update.indexOf("#### Environments"));
    expect(update).toContain(
      "- `legacy-release` (berth release) **deleted**: the environment's containers stop on its node",
    );
    for (const md of [update, events])
      expect(md).not.toContain("`legacy` (berth:index:DeploymentEnvironment)");
  });

  it("shows the next release from the old outputs, and the removed environment's last one", () => {
    expect(update).toContain("#### `demo`: **release 5** (now 4) on node `local-1`");
    expect(update).toContain(
      "#### `legacy`: **removed** on node `local-1`: the node stops its containers (last release 2)",
    );
  });

  it("shows image changes as short digests, a rebuild with its source hashes", () => {
    expect(update).toMatch(
      /- `web`: sha256:[a-f0-9]{12} → rebuilt \(source `[a-f0-9]{8}` → `[a-f0-9]{8}`\), new digest at deploy/,
    );
  });

  it("says a stop-first service is stopped and replaced, and why when it shares a rebuilt image", () => {
    expect(update).toMatch(
      /- `store`: sha256:[a-f0-9]{12} → rebuilt \(source `[a-f0-9]{8}` → `[a-f0-9]{8}`\), new digest at deploy; \*\*stopped, then replaced\*\* \(stop-first: it keeps a volume\), because the image it shares with `web`, `worker` changed/,
    );
    expect(update).not.toMatch(/- `web`: .*stopped, then replaced/);
  });

  it("lists environment keys added, removed and changed, a secret by its name only", () => {
    expect(update).toContain("- `web` `GREETING` changed: `Hello from berth` → `Hello again`");
    expect(update).toContain("- `worker` `DB_PASSWORD` added: (secret api-token)");
    expect(update).toContain("- `worker` `INTERVAL_SECONDS` removed");
    expect(update).toContain("- `worker` `LOG_LEVEL` added: `debug`");
  });

  it("lists volume, mount and route changes", () => {
    expect(update).toContain("- volume added: `uploads`");
    expect(update).toContain("- route added: `demo.localhost/api -> web:8080`");
    expect(update).toContain("- `store` mount added: `uploads:/uploads`");
  });

  it("reports policy violations from the event stream, and says a digest has none", () => {
    expect(events).toContain(
      "- ⚠️ advisory `berth-release-health-check` on `demo-release`: release of demo: service worker has no health check",
    );
    expect(events).toContain("`berth-release-memory-limit`");
    expect(update).toContain("Policy results are not in a preview digest");
    // The same changes either way.
    expect(events).toContain("- `web` `GREETING` changed: `Hello from berth` → `Hello again`");
  });

  it("summarizes a first deployment per environment", () => {
    const create = previewMarkdown(parsePreview(data("create.json")));
    expect(create).toContain("Changes: 11 to create.");
    expect(create).toContain("#### `demo`: **release 1** (new environment) on node `local-1`");
    expect(create).toContain(
      "services: `store`, `web`, `worker`; volumes: `data`; routes: `localhost -> web:8080`",
    );
    expect(create).not.toContain("Removed or replaced");
  });

  it("prints no secret: no credential input, no blinded value, no Compose text", () => {
    for (const md of [update, events]) {
      expect(md).not.toMatch(
        /signingKey|registry.*password|BEGIN|composeText|4dabf18193072939515e22adb298388d/i,
      );
    }
  });
});

describe("secrets and edge cases (hand-made steps)", () => {
  const release = (summary: unknown, old: unknown, op = "update") =>
    JSON.stringify({
      steps: [
        {
          op,
          urn: "urn:pulumi:prod::berth::berth:index:DeploymentEnvironment$pulumi-nodejs:dynamic:Resource::shop-release",
          oldState: {
            urn: "x",
            custom: true,
            type: "pulumi-nodejs:dynamic:Resource",
            inputs: { berthKind: "release", environmentId: "shop", summary: old },
            outputs: {
              berthKind: "release",
              environmentId: "shop",
              summary: old,
              sequence: 7,
              registry: "[secret]",
            },
          },
          newState: {
            urn: "x",
            custom: true,
            type: "pulumi-nodejs:dynamic:Resource",
            inputs: {
              berthKind: "release",
              environmentId: "shop",
              nodeId: "fsn-1",
              summary,
              registry: "[secret]",
            },
          },
        },
      ],
      changeSummary: { update: 1 },
    });
  const svc = (environment: Record<string, unknown>, image = "r/acme/shop-web@sha256:" + "a".repeat(64)) => ({
    services: { web: { image, environment, healthcheck: "none" } },
    volumes: [],
    routes: [],
  });

  it("never shows a plain value whose key looks like a credential, nor an engine secret", () => {
    const md = previewMarkdown(
      parsePreview(
        release(
          svc({
            DB_PASSWORD: "hunter2",
            TOKEN: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" },
          }),
          svc({ DB_PASSWORD: "old" }),
        ),
      ),
    );
    expect(md).not.toContain("hunter2");
    expect(md).not.toContain("old`");
    expect(md).toContain("`web` `DB_PASSWORD` changed: (value hidden");
    expect(md).toContain("`web` `TOKEN` added: (secret)");
  });

  it("says so when the whole summary is secret", () => {
    const md = previewMarkdown(parsePreview(release("[secret]", svc({}))));
    expect(md).toContain("The release summary is secret in this preview");
  });

  it("shows a pinned Compose image change as short digests, and a replacement first", () => {
    const md = previewMarkdown(
      parsePreview(release(svc({}, `r/acme/shop-web@sha256:${"b".repeat(64)}`), svc({}), "replace")),
    );
    expect(md).toContain("- `web`: sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb");
    expect(md).toContain("**replaced** (deleted, then created again)");
    expect(md).toContain("#### `shop`: **release 8** (now 7) on node `fsn-1`, **replacing** the environment");
  });

  it("reads values safely", () => {
    expect(showValue("A", "x|y`z")).toBe("``x\\|y`z``");
    expect(shortDigest(`r@sha256:${"c".repeat(64)}`)).toBe("sha256:cccccccccccc");
    expect(() => parsePreview("not json\n")).toThrow(/line 1 is not JSON/);
  });
});
