// The test mocks themselves: a component of one program run whose outputs resolve only after the
// next run set its mocks (unit files share their worker) must not end in an unhandled "unknown
// resource" rejection, which fails a whole vitest run.
import * as pulumi from "@pulumi/pulumi";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setCloudMocks, settle, value } from "./mocks";

class Late extends pulumi.ComponentResource {
  constructor(name: string, gate: Promise<string>) {
    super("berth:test:Late", name, {}, {});
    this.registerOutputs({ v: pulumi.output(gate) });
  }
}

const rejections: unknown[] = [];
const onRejection = (e: unknown) => rejections.push(e);

afterEach(() => {
  process.off("unhandledRejection", onRejection);
});

describe("setCloudMocks", () => {
  it("routes an earlier run's late component outputs to the monitor that registered it", async () => {
    process.on("unhandledRejection", onRejection);
    setCloudMocks("first");
    let open: (v: string) => void = () => undefined;
    const late = new Late("web-late", new Promise<string>((r) => (open = r)));
    const urn = await value(late.urn);
    expect(urn).toBe("urn:pulumi:first::berth::berth:test:Late::web-late");
    // The next file's run sets its mocks; then the first run's component finishes.
    setCloudMocks("second");
    open("done");
    await settle();
    await new Promise((r) => setTimeout(r, 50));
    expect(rejections.map(String)).toEqual([]);
  });

  it("does so across a reset of the worker's modules, as a program run does before it imports the program", async () => {
    process.on("unhandledRejection", onRejection);
    setCloudMocks("before-reset");
    let open: (v: string) => void = () => undefined;
    const late = new Late("web-reset", new Promise<string>((r) => (open = r)));
    await value(late.urn);
    vi.resetModules();
    const fresh = (await import("./mocks")) as typeof import("./mocks");
    fresh.setCloudMocks("after-reset");
    open("done");
    await fresh.settle();
    await new Promise((r) => setTimeout(r, 50));
    expect(rejections.map(String)).toEqual([]);
  });

  it("still refuses outputs of a resource no monitor registered", async () => {
    setCloudMocks("third");
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResourceOutputs(req: { getUrn(): string }, cb: (err: unknown) => void): void;
    };
    const err = await new Promise<unknown>((resolve) =>
      monitor.registerResourceOutputs(
        { getUrn: () => "urn:pulumi:third::berth::berth:test:Late::nobody" },
        resolve,
      ),
    );
    expect(String(err)).toContain("unknown resource urn:pulumi:third::berth::berth:test:Late::nobody");
  });
});
