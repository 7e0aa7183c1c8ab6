import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("environment", () => {
  it("accepts a map and a list, values as written", () => {
    const m = accept(web("environment:\n  A: x\n  N: 3\n  E: ''\n  Q: 'a=b'"));
    expect(m.manifest.services.web?.environment).toEqual({
      A: { value: "x" },
      N: { value: "3" },
      E: { value: "" },
      Q: { value: "a=b" },
    });
    const l = accept(web("environment:\n  - A=x\n  - B=y=z\n  - C="));
    expect(l.manifest.services.web?.environment).toEqual({
      A: { value: "x" },
      B: { value: "y=z" },
      C: { value: "" },
    });
  });

  it("takes a variable without value from the variables passed in, or leaves it unset with a warning", () => {
    const r = accept(web("environment:\n  - FROM_VARS\n  - MISSING\n  OTHER:").replace("  OTHER:", ""), {
      variables: { FROM_VARS: "v" },
    });
    expect(r.manifest.services.web?.environment).toEqual({ FROM_VARS: { value: "v" } });
    expect(r.warnings[0]).toMatchObject({ path: "services.web.environment[1]", line: 6 });
    expect(r.warnings[0]?.message).toBe(
      "MISSING has no value and no variable MISSING was passed: it is left unset",
    );
  });

  it("accepts secret references", () => {
    const r = accept(
      web(
        "environment:\n  DB_PASSWORD: { x-berth-secret: db-password }\n  TOKEN:\n    x-berth-secret: API_TOKEN",
      ),
    );
    expect(r.manifest.services.web?.environment).toEqual({
      DB_PASSWORD: { secret: "db-password" },
      TOKEN: { secret: "API_TOKEN" },
    });
  });

  it("refuses bad secret references, other mappings and lists", () => {
    const ps = reject(
      web(
        "environment:\n  A: { x-berth-secret: 'bad name!' }\n  B: { x-berth-secrets: X }\n  C: { x-berth-secret: X, other: 1 }\n  D: [1]\n  E: { x-berth-secret: [x] }",
      ),
    );
    expect(at(ps, "services.web.environment.A.x-berth-secret")).toMatchObject({
      line: 5,
      message: '"bad name!" is not a secret name',
    });
    expect(at(ps, "services.web.environment.B").hint).toBe(
      'unknown key x-berth-secrets; did you mean "x-berth-secret"?',
    );
    expect(at(ps, "services.web.environment.C").message).toBe(
      "environment C must be a string or { x-berth-secret: NAME }",
    );
    expect(at(ps, "services.web.environment.D").message).toBe("environment D must be a string, got a list");
    expect(at(ps, "services.web.environment.E.x-berth-secret").message).toContain("must be a string");
  });

  it("refuses duplicate and malformed names in the list form", () => {
    const ps = reject(web("environment:\n  - A=1\n  - A=2\n  - =x\n  - 'B C=1'"));
    expect(at(ps, "services.web.environment[1]").message).toBe("environment: A is given twice");
    expect(at(ps, "services.web.environment[2]").message).toBe('"" is not a variable name');
    expect(at(ps, "services.web.environment[3]").message).toBe('"B C" is not a variable name');
  });

  it("refuses environment that is neither a map nor a list", () => {
    expect(at(reject(web("environment: A=1")), "services.web.environment").message).toContain(
      "environment must be a mapping or a list of KEY=VALUE",
    );
  });
});
