import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate, selectChallenge } from "./challenge";

describe("parseWwwAuthenticate", () => {
  it("reads a distribution Bearer challenge", () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/nginx:pull",
        },
      },
    ]);
  });

  it("reads Basic, case-insensitive scheme and parameter names", () => {
    expect(parseWwwAuthenticate('basic Realm="berth-local"')).toEqual([
      { scheme: "basic", params: { realm: "berth-local" } },
    ]);
  });

  it("reads several challenges in one header, token values and spaces around `=`", () => {
    expect(
      parseWwwAuthenticate(
        'Basic realm="a, b", Bearer realm = "https://t/x" , service=reg,  scope="repository:a/b:pull,push" ,error=insufficient_scope',
      ),
    ).toEqual([
      { scheme: "basic", params: { realm: "a, b" } },
      {
        scheme: "bearer",
        params: {
          realm: "https://t/x",
          service: "reg",
          scope: "repository:a/b:pull,push",
          error: "insufficient_scope",
        },
      },
    ]);
  });

  it("unescapes quoted strings", () => {
    expect(parseWwwAuthenticate('Basic realm="say \\"hi\\" \\\\ there"')[0]?.params.realm).toBe(
      'say "hi" \\ there',
    );
  });

  it("keeps a token68 and a bare scheme", () => {
    expect(parseWwwAuthenticate("Negotiate abc+/def==, Basic")).toEqual([
      { scheme: "negotiate", params: { token68: "abc+/def==" } },
      { scheme: "basic", params: {} },
    ]);
  });

  it("returns nothing for an absent or empty header, and survives garbage", () => {
    expect(parseWwwAuthenticate(null)).toEqual([]);
    expect(parseWwwAuthenticate("")).toEqual([]);
    expect(() => parseWwwAuthenticate('"==,,=" ;; Bearer realm="x')).not.toThrow();
    expect(parseWwwAuthenticate('Bearer realm="unterminated')[0]?.params.realm).toBe("unterminated");
  });

  it("selects Bearer over Basic, and nothing else", () => {
    expect(selectChallenge(parseWwwAuthenticate('Basic realm="r", Bearer realm="t"'))?.scheme).toBe("bearer");
    expect(selectChallenge(parseWwwAuthenticate('Basic realm="r"'))?.scheme).toBe("basic");
    expect(selectChallenge(parseWwwAuthenticate("Negotiate abc"))).toBeUndefined();
  });
});
