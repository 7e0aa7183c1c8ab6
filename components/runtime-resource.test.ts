// A runtime resource's `__provider`: one line that hands the SDK's provider process the runtime
// bundle's provider table, with the same methods as the serialized provider objects before it.
import { describe, expect, it } from "vitest";
import * as imageBuild from "./runtime/image-build";
import * as providers from "./runtime/providers";
import * as release from "./runtime/release";
import { PROVIDER_RUNTIME } from "./runtime-path";
import { providerText } from "./runtime-resource";

/** What the provider process does with the text: load it as a module, call `handler()`. */
function handlerOf(text: string, runtime: unknown): unknown {
  const module = { exports: {} as { handler?: () => unknown } };
  const required: string[] = [];
  const fakeRequire = (id: string) => {
    required.push(id);
    return runtime;
  };
  new Function("exports", "require", "module", text)(module.exports, fakeRequire, module);
  const provider = module.exports.handler?.();
  expect(required).toEqual([PROVIDER_RUNTIME]);
  return provider;
}

describe("runtime resources' provider text", () => {
  it("is one short line that takes the kind's table from this checkout's runtime bundle", () => {
    for (const [kind, table] of [
      ["release", providers.release],
      ["imageBuild", providers.imageBuild],
    ] as const) {
      const text = providerText(kind);
      expect(text.trim().split("\n")).toHaveLength(1);
      // The closure serializer's text was 1.2-2.2 KB for the same calls.
      expect(text.length).toBeLessThan(120 + PROVIDER_RUNTIME.length);
      expect(handlerOf(text, { providers })).toBe(table);
    }
  });

  it("the tables have the methods the serialized providers had, calling the same functions", () => {
    expect(providers.release).toEqual({
      check: release.check,
      diff: release.diff,
      create: release.create,
      update: release.update,
      delete: release.remove,
      read: release.read,
    });
    // No check: the provider process passes the inputs through, as before.
    expect(providers.imageBuild).toEqual({
      diff: imageBuild.diff,
      create: imageBuild.create,
      update: imageBuild.update,
    });
  });
});
