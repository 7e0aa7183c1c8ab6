import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diskProjectFiles, MAX_PROJECT_FILE_BYTES } from "./project-files";

const root = mkdtempSync(join(tmpdir(), "berth-project-files-"));
const outside = mkdtempSync(join(tmpdir(), "berth-outside-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("diskProjectFiles", () => {
  it("reads a file inside the folder, and says when one is missing", () => {
    mkdirSync(join(root, "conf"));
    writeFileSync(join(root, "conf", "a.env"), "A=1\n");
    const files = diskProjectFiles(root);
    expect(files.read("conf/a.env")).toEqual({ ok: true, text: "A=1\n" });
    expect(files.read("nope.env")).toMatchObject({ ok: false, missing: true });
  });

  it("refuses a symlink that leads outside, a folder, and a file over the bound with its size", () => {
    writeFileSync(join(outside, "secret"), "x");
    symlinkSync(join(outside, "secret"), join(root, "link.env"));
    const files = diskProjectFiles(root);
    expect(files.read("link.env")).toMatchObject({ ok: false, missing: false });
    expect((files.read("link.env") as { message: string }).message).toMatch(
      /leads outside the project folder/,
    );
    expect(files.read("conf")).toMatchObject({ ok: false, message: "conf is not a regular file" });
    writeFileSync(join(root, "big"), Buffer.alloc(MAX_PROJECT_FILE_BYTES + 1));
    expect(files.read("big")).toMatchObject({
      ok: false,
      message: `big is ${MAX_PROJECT_FILE_BYTES + 1} bytes, over the ${MAX_PROJECT_FILE_BYTES} bytes a project file may hold`,
    });
  });
});
