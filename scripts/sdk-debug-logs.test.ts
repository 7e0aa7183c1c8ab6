// scripts/sdk-debug-logs.js: the SDK's per-registration debug lines stay in the program, every
// other debug line goes on to the engine, and BERTH_SDK_DEBUG_LOGS=1 keeps them all.
import { describe, expect, it } from "vitest";

const { install, isRegistrationLine } = require("./sdk-debug-logs") as {
  install: (log: { debug: (m: string) => Promise<void> }, env?: Record<string, string>) => void;
  isRegistrationLine: (m: unknown) => boolean;
};

function fakeLog() {
  const sent: string[] = [];
  const log = {
    debug: (m: string) => {
      sent.push(m);
      return Promise.resolve();
    },
  };
  return { log, sent };
}

describe("sdk-debug-logs", () => {
  it("knows the SDK's registration lines (runtime/resource.js) and nothing else", () => {
    for (const line of [
      "Registering resource: t=pulumi-nodejs:dynamic:Resource, name=demo-release, custom=true, remote=false",
      "RegisterResource RPC prepared: t=pulumi-nodejs:dynamic:Resource, name=demo-release",
      "RegisterResource RPC finished: resource:demo-release[pulumi-nodejs:dynamic:Resource]; err: null, resp: x",
      "RegisterResourceOutputs RPC prepared: urn=urn:pulumi:s::berth::berth:index:DeploymentEnvironment::demo",
      "RegisterResourceOutputs RPC finished: urn=urn:pulumi:s::berth::x::demo; err: null, resp: ",
      "Reading resource: t=pulumi-nodejs:dynamic:Resource, name=x",
    ])
      expect(isRegistrationLine(line), line).toBe(true);
    for (const line of [
      "Running program '/p' in pwd '/p' w/ args: ",
      "Invoke RPC finished: tok=x",
      "my line",
      3,
    ])
      expect(isRegistrationLine(line), String(line)).toBe(false);
  });

  it("drops the registration lines and sends every other line, once installed", async () => {
    const { log, sent } = fakeLog();
    install(log, {});
    install(log, {}); // a second install wraps nothing more
    await log.debug("Registering resource: t=x, name=y, custom=true, remote=false");
    await log.debug("RegisterResource RPC finished: resource:y[x]; err: null, resp: secret-value");
    await log.debug("a user's debug line");
    expect(sent).toEqual(["a user's debug line"]);
  });

  it("keeps every line with BERTH_SDK_DEBUG_LOGS=1", async () => {
    const { log, sent } = fakeLog();
    install(log, { BERTH_SDK_DEBUG_LOGS: "1" });
    await log.debug("Registering resource: t=x, name=y, custom=true, remote=false");
    expect(sent).toEqual(["Registering resource: t=x, name=y, custom=true, remote=false"]);
  });
});
