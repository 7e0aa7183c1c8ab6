// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { interpolateString, toVariables } from "./interpolate";
import { at, reject } from "./testing";

const vars = toVariables({ SET: "v", EMPTY: "", TAG: "1.2" });
const value = (s: string) => {
  const r = interpolateString(s, vars);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("; "));
  return r.value;
};
const errors = (s: string) => {
  const r = interpolateString(s, vars);
  return r.ok ? [] : r.errors.map((e) => e.message);
};

describe("interpolateString", () => {
  it("substitutes $VAR and ${VAR}", () => {
    expect(value("a-$SET-${SET}")).toBe("a-v-v");
    expect(value("nginx:${TAG}")).toBe("nginx:1.2");
    expect(value("$SET.x")).toBe("v.x");
  });

  it("escapes $$", () => {
    expect(value("$$HOME and $${X}")).toBe("$HOME and ${X}");
  });

  it("applies defaults: :- when unset or empty, - when unset", () => {
    expect(value("${UNSET:-d}")).toBe("d");
    expect(value("${EMPTY:-d}")).toBe("d");
    expect(value("${EMPTY-d}")).toBe("");
    expect(value("${UNSET-d}")).toBe("d");
    expect(value("${SET:-d}")).toBe("v");
    expect(value("${UNSET:-${SET}/x}")).toBe("v/x");
    expect(value("${UNSET:-}")).toBe("");
  });

  it("applies replacements :+ and +", () => {
    expect(value("${SET:+yes}")).toBe("yes");
    expect(value("${EMPTY:+yes}")).toBe("");
    expect(value("${EMPTY+yes}")).toBe("yes");
    expect(value("${UNSET+yes}")).toBe("");
  });

  it("reports required variables with their message", () => {
    expect(errors("${UNSET:?give the tag}")).toEqual(["required variable UNSET is not set: give the tag"]);
    expect(errors("${EMPTY:?no}")).toEqual(["required variable EMPTY is empty: no"]);
    expect(errors("${EMPTY?no}")).toEqual([]);
    expect(errors("${UNSET?}")).toEqual(["required variable UNSET is not set"]);
  });

  it("names an unset variable without a default, every one of them", () => {
    expect(errors("$A and ${B}")).toEqual(["variable A is not set", "variable B is not set"]);
  });

  it("refuses malformed references", () => {
    expect(errors("${")[0]).toContain("unterminated");
    expect(errors("${1X}")[0]).toContain("expected a variable name");
    expect(errors("${A*b}")[0]).toContain("invalid interpolation");
  });

  it("keeps a $ that is not followed by a name, a brace or $, as compose-go does", () => {
    expect(value("cost: $5")).toBe("cost: $5");
    expect(value("echo $(date) $ $@ a$")).toBe("echo $(date) $ $@ a$");
    expect(value("$(echo $SET)")).toBe("$(echo v)");
  });

  it("never reads the process environment", () => {
    process.env.BERTH_TEST_FROM_ENV = "leak";
    try {
      expect(errors("${BERTH_TEST_FROM_ENV}")).toEqual(["variable BERTH_TEST_FROM_ENV is not set"]);
    } finally {
      delete process.env.BERTH_TEST_FROM_ENV;
    }
  });
});

describe("interpolation in a file", () => {
  it("reports an unset variable at the YAML location where it appears", () => {
    const ps = reject("services:\n  web:\n    image: nginx:${TAG}\n    environment:\n      A: ${A:?set A}\n");
    expect(at(ps, "services.web.image")).toMatchObject({
      line: 3,
      col: 12,
      message: "variable TAG is not set",
    });
    expect(at(ps, "services.web.environment.A").message).toBe("required variable A is not set: set A");
  });

  it("interpolates values, not keys", () => {
    const ps = reject("services:\n  ${NAME}:\n    image: nginx\n");
    expect(ps[0]?.message).toContain("is not a valid service name");
  });
});
