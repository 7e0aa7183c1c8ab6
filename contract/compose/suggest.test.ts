import { describe, expect, it } from "vitest";
import { closest, didYouMean, editDistance } from "./suggest";

describe("did you mean", () => {
  it("measures edit distance", () => {
    expect(editDistance("image", "imgae")).toBe(1);
    expect(editDistance("image", "imagee")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
  });

  it("suggests the closest key when it is a likely typo", () => {
    expect(closest("imgae", ["image", "build"])).toBe("image");
    expect(closest("enviroment", ["environment", "entrypoint"])).toBe("environment");
    expect(closest("zzzzzz", ["image", "build"])).toBeUndefined();
    expect(didYouMean("comand", ["command", "image"])).toBe('did you mean "command"?');
    expect(didYouMean("qqq", ["a", "b"])).toBe("accepted here: a, b");
  });
});
