// scripts/start-providers.js: the providers' invoke goes out once the stack's URN is known, never
// before, once, and the SDK's own setRootResource still runs with the stack.
import { describe, expect, it } from "vitest";

const { startProvidersWithStack } = require("./start-providers") as {
  startProvidersWithStack: (
    settings: { setRootResource: (stack: unknown) => Promise<void> },
    invoke: () => Promise<unknown>,
  ) => void;
};

function stackWithUrn() {
  let resolve: (urn: string) => void = () => undefined;
  const urn = new Promise<string>((r) => {
    resolve = r;
  });
  return { stack: { urn: { promise: () => urn } }, resolve };
}

describe("start-providers", () => {
  it("invokes once the stack's URN resolves, then not again; setRootResource is the SDK's", async () => {
    const calls: string[] = [];
    const settings = {
      setRootResource: async (stack: unknown) => {
        calls.push(`setRootResource ${stack === s.stack}`);
      },
    };
    const s = stackWithUrn();
    startProvidersWithStack(settings, async () => {
      calls.push("invoke");
      throw new Error("unknown function pulumi-nodejs:index:startProviders");
    });
    await settings.setRootResource(s.stack);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(["setRootResource true"]);
    s.resolve("urn:pulumi:dev::berth::pulumi:pulumi:Stack::berth-dev");
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(["setRootResource true", "invoke"]);
    await settings.setRootResource(s.stack);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(["setRootResource true", "invoke", "setRootResource true"]);
  });

  it("does not invoke when the stack's registration fails", async () => {
    let invoked = false;
    const settings: { setRootResource: (stack: unknown) => Promise<void> } = {
      setRootResource: async () => undefined,
    };
    startProvidersWithStack(settings, async () => {
      invoked = true;
    });
    const failed = Promise.reject(new Error("registration failed"));
    await settings.setRootResource({ urn: { promise: () => failed } });
    await new Promise((r) => setImmediate(r));
    expect(invoked).toBe(false);
  });
});
