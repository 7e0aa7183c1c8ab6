import { describe, expect, it } from "vitest";
import { splitShellWords } from "./shell-words";

const words = (s: string) => {
  const r = splitShellWords(s);
  if (!r.ok) throw new Error(r.message);
  return r.words;
};

describe("splitShellWords", () => {
  it("splits on blanks like a shell", () => {
    expect(words("sleep infinity")).toEqual(["sleep", "infinity"]);
    expect(words("  a \t b\n c ")).toEqual(["a", "b", "c"]);
    expect(words("")).toEqual([]);
  });

  it("keeps quoted text together and drops the quotes", () => {
    expect(words(`echo "hello world" 'it''s'`)).toEqual(["echo", "hello world", "its"]);
    expect(words(`sh -c 'echo $HOME; ls | wc -l'`)).toEqual(["sh", "-c", "echo $HOME; ls | wc -l"]);
    expect(words(`a "" b`)).toEqual(["a", "", "b"]);
    expect(words(`x="a b"c`)).toEqual(["x=a bc"]);
  });

  it("handles backslash escapes outside and inside double quotes", () => {
    expect(words("a\\ b c")).toEqual(["a b", "c"]);
    expect(words(`"a \\"q\\" \\n"`)).toEqual(['a "q" \\n']);
    expect(words("line\\\ncontinued")).toEqual(["linecontinued"]);
  });

  it("does not expand variables or globs", () => {
    expect(words("echo $HOME *.txt")).toEqual(["echo", "$HOME", "*.txt"]);
  });

  it("refuses an unterminated $( or backquote", () => {
    for (const t of ["echo $(a", "echo `a"]) {
      const r = splitShellWords(t);
      expect(r.ok, t).toBe(false);
      if (!r.ok) expect(r.message).toContain("unterminated");
    }
  });

  it("keeps $(...) and backquotes literally, as Compose 2.26's parser does (docker compose config)", () => {
    expect(words("echo --when $(date) end")).toEqual(["echo", "--when", "$(date)", "end"]);
    expect(words("echo x$(a b; c) `d e` f")).toEqual(["echo", "x$(a b; c)", "`d e`", "f"]);
  });

  it("refuses unterminated quotes and unquoted shell operators", () => {
    const q = splitShellWords(`echo "oops`);
    expect(q.ok).toBe(false);
    if (!q.ok) expect(q.message).toContain('unterminated " quote');
    for (const op of ["a && b", "a; b", "a | b", "a > f", "a < f", "(a)", "a b)"]) {
      const r = splitShellWords(op);
      expect(r.ok, op).toBe(false);
      if (!r.ok) expect(r.hint).toContain('["sh", "-c", "..."]');
    }
  });
});
