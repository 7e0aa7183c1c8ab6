import { describe, expect, it } from "vitest";
import { localDestination } from "./workspace-access";

describe("berth workspace cp NAME:PATH LOCAL", () => {
  it("puts the file into a local folder under its own name, as cp does; any other LOCAL is the file", () => {
    const folders = new Set([".", "/tmp/out"]);
    const isFolder = (p: string) => folders.has(p);
    expect(localDestination(".", "build/out.tar", isFolder)).toBe("out.tar");
    expect(localDestination("/tmp/out", "/etc/hosts", isFolder)).toBe("/tmp/out/hosts");
    expect(localDestination("copy.tar", "build/out.tar", isFolder)).toBe("copy.tar");
  });
});
