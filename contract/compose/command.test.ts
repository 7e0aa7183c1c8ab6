import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("command and entrypoint", () => {
  it("splits a string like a shell and keeps a list as written", () => {
    const r = accept(web(`command: npm run "start prod"\nentrypoint: ["/bin/tini", "--", 1]`));
    expect(r.manifest.services.web?.command).toEqual(["npm", "run", "start prod"]);
    expect(r.manifest.services.web?.entrypoint).toEqual(["/bin/tini", "--", "1"]);
  });

  it("keeps [] (it clears the image's value) and drops an empty value", () => {
    const r = accept(web("entrypoint: []\ncommand:"));
    expect(r.manifest.services.web?.entrypoint).toEqual([]);
    expect(r.manifest.services.web?.command).toBeUndefined();
  });

  it("refuses shell operators and unterminated quotes in a string command", () => {
    const ps = reject(web(`command: echo a && echo b\nentrypoint: "sh -c 'x"`));
    expect(at(ps, "services.web.command")).toMatchObject({ line: 4, col: 14 });
    expect(at(ps, "services.web.command").message).toContain('unquoted shell operator "&"');
    expect(at(ps, "services.web.entrypoint").message).toBe("the command has an unterminated ' quote");
  });

  it("refuses other shapes", () => {
    const ps = reject(web("command: { a: b }\nentrypoint: [[x]]"));
    expect(at(ps, "services.web.command").message).toBe("command must be a string or a list of strings");
    expect(at(ps, "services.web.entrypoint[0]").message).toContain("must be a string");
  });
});
