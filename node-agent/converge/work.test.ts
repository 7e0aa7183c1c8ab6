import { describe, expect, it } from "vitest";
import { convergeWork, releaseFingerprint } from "./work";

describe("convergeWork", () => {
  it("has nothing to do when the desired release is current with an outcome, or tried and reported", () => {
    expect(convergeWork({ current: 3, desired: 3, stored: true, outcome: "applied" })).toBe("none");
    expect(convergeWork({ current: 3, desired: 4, stored: true, outcome: "failed" })).toBe("none");
    expect(convergeWork({ current: undefined, desired: 1, stored: true, outcome: "failed" })).toBe("none");
  });

  it("finishes a current release whose outcome a crash left unrecorded", () => {
    expect(convergeWork({ current: 3, desired: 3, stored: true, outcome: undefined })).toBe("finish");
  });

  it("resumes a stored release without an outcome", () => {
    expect(convergeWork({ current: 2, desired: 3, stored: true, outcome: undefined })).toBe("resume");
    expect(convergeWork({ current: undefined, desired: 1, stored: true, outcome: undefined })).toBe("resume");
  });

  it("reads a new release, and a pointer back to an older one (a replay, refused by verification)", () => {
    expect(convergeWork({ current: 2, desired: 3, stored: false, outcome: undefined })).toBe("fetch");
    expect(convergeWork({ current: undefined, desired: 1, stored: false, outcome: undefined })).toBe("fetch");
    expect(convergeWork({ current: 5, desired: 3, stored: true, outcome: "applied" })).toBe("fetch");
  });
});

describe("releaseFingerprint", () => {
  it("names the sequence and the text", () => {
    expect(releaseFingerprint(3, "a")).toBe(releaseFingerprint(3, "a"));
    expect(releaseFingerprint(3, "a")).not.toBe(releaseFingerprint(3, "b"));
    expect(releaseFingerprint(3, "a")).not.toBe(releaseFingerprint(4, "a"));
  });
});
