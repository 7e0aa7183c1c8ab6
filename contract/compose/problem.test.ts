import { describe, expect, it } from "vitest";
import { formatPath, formatProblem, Problems, sortProblems } from "./problem";

describe("problems", () => {
  it("formats YAML paths like services.web.volumes[0]", () => {
    expect(formatPath(["services", "web", "volumes", 0])).toBe("services.web.volumes[0]");
    expect(formatPath([])).toBe("(top level)");
    expect(formatPath(["services", "my.svc", "labels", "a b"])).toBe('services["my.svc"].labels["a b"]');
    expect(formatPath(["x-berth-routes", 2, "host"])).toBe("x-berth-routes[2].host");
  });

  it("formats FILE:LINE:COL PATH: message (hint)", () => {
    const p = { file: "c.yaml", line: 3, col: 5, path: "services.web", message: "bad", hint: "do this" };
    expect(formatProblem(p)).toBe("c.yaml:3:5 services.web: bad (do this)");
    expect(formatProblem({ ...p, hint: undefined })).toBe("c.yaml:3:5 services.web: bad");
  });

  it("collects errors and warnings and sorts them by position", () => {
    const ps = new Problems("f");
    ps.error({ line: 4, col: 1 }, ["a"], "second");
    ps.error({ line: 2, col: 9 }, ["b"], "first");
    ps.warn({ line: 0, col: 0 }, [], "w");
    expect(sortProblems(ps.errors).map((p) => p.message)).toEqual(["first", "second"]);
    expect(ps.warnings[0]).toMatchObject({ line: 1, col: 1, path: "(top level)" });
  });
});
