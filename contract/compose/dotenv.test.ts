// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { parseDotenv } from "./dotenv";

const lookup = (vars: Record<string, string>) => (n: string) => vars[n];

function values(text: string, vars: Record<string, string> = {}, raw = false) {
  const r = parseDotenv(text, { file: ".env", lookup: lookup(vars), raw });
  if (r.problems.length)
    throw new Error(r.problems.map((p) => `${p.pos.line}:${p.pos.col} ${p.message}`).join("\n"));
  return Object.fromEntries(r.values);
}

describe("parseDotenv (compose-go's dotenv)", () => {
  it("reads KEY=VALUE, export, comments, blanks and inline comments", () => {
    expect(
      values("# comment\n\nA=1\nexport B=two words  # note\nC=#not a comment\nD=\n  E = spaced\nF: colon\n"),
    ).toEqual({ A: "1", B: "two words", C: "#not a comment", D: "", E: "spaced", F: "colon" });
  });

  it("keeps single quotes literal and takes escapes in double quotes, across lines", () => {
    expect(
      values('A=\'$X \\n ${Y}\'\nB="a\\tb\\n\\"c\\" \\$X"\nC="line1\nline2"\nD=\'x\ny\'\n', { X: "x" }),
    ).toEqual({
      A: "$X \\n ${Y}",
      B: 'a\tb\n"c" $X',
      C: "line1\nline2",
      D: "x\ny",
    });
  });

  it("interpolates with the variables above and the lookup; unset is blank, as in Compose", () => {
    expect(values('A=1\nB=${A}-$X-${UNSET}-${UNSET:-d}\nC="$B"\n', { X: "x" })).toEqual({
      A: "1",
      B: "1-x--d",
      C: "1-x--d",
    });
  });

  it("takes a KEY alone from the lookup, or leaves it out", () => {
    expect(values("SET\nUNSET\n", { SET: "v" })).toEqual({ SET: "v" });
  });

  it("format raw takes everything after = as written", () => {
    expect(values("A='q' ${X} # c\n", { X: "x" }, true)).toEqual({ A: "'q' ${X} # c" });
  });

  it("locates what it cannot read", () => {
    const r = parseDotenv('A=1\nnot a line\nB="open\n', { file: "web.env", lookup: () => undefined });
    expect(r.problems.map((p) => [p.pos.file, p.pos.line, p.pos.col, p.message])).toEqual([
      ["web.env", 2, 5, "expected = after not"],
      ["web.env", 3, 3, 'the value of B has no closing "'],
    ]);
  });
});
