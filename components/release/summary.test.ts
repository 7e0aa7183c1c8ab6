import { describe, expect, it } from "vitest";
import { loadCompose } from "../../contract/compose";
import { summarize, summaryChanges } from "./summary";

function manifest(text: string) {
  const r = loadCompose(text, { file: "compose.yaml", projectDir: "/p" });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.manifest;
}

const base = `services:
  web:
    image: r.example/web:1
    environment:
      GREETING: hello
      TOKEN: { x-berth-secret: token }
x-berth-routes:
  - { service: web, port: 8080, host: app.example.com }
`;

describe("release summary", () => {
  it("shows images, environment (secrets by name only) and routes", () => {
    const s = summarize(manifest(base), { web: `r.example/web@sha256:${"a".repeat(64)}` });
    expect(s.services.web?.environment).toEqual({ GREETING: "hello", TOKEN: "(secret token)" });
    expect(s.services.web?.image).toMatch(/@sha256:/);
    expect(s.routes).toEqual(["app.example.com -> web:8080"]);
  });

  it("names the properties a change touches", () => {
    const a = summarize(manifest(base), {});
    const b = summarize(manifest(base.replace("GREETING: hello", "GREETING: hi\n      NEW: x")), {});
    expect(summaryChanges(a, b)).toEqual([
      "services.web.definition",
      "services.web.environment.GREETING",
      "services.web.environment.NEW",
    ]);
  });

  it("notices a change of the health probe", () => {
    const withProbe = base.replace(
      "    environment:",
      "    x-berth-health: { path: /health, port: 8080 }\n    environment:",
    );
    const a = summarize(manifest(withProbe), {});
    const b = summarize(manifest(withProbe.replace("path: /health", "path: /ready")), {});
    expect(summaryChanges(a, b)).toEqual(["services.web.definition", "services.web.health"]);
  });

  it("treats a Compose edit that changes nothing rendered as no change", () => {
    const reformatted = base
      .replace("GREETING: hello", 'GREETING: "hello"  # quoted now')
      .replace("image: r.example/web:1", "image: 'r.example/web:1'");
    expect(summaryChanges(summarize(manifest(base), {}), summarize(manifest(reformatted), {}))).toEqual([]);
  });
});
