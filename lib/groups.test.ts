import { describe, expect, it } from "vitest";
import { parseGroupId } from "./groups";

describe("parseGroupId", () => {
  it("finds a group's id by its exact name", () => {
    const text = "root:x:0:\nhaproxy-admins:x:120:\nhaproxy:x:110:\n";
    expect(parseGroupId(text, "haproxy")).toBe(110);
    expect(parseGroupId(text, "root")).toBe(0);
    expect(parseGroupId(text, "hap")).toBeUndefined();
  });
});
