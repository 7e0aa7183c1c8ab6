// Pulumi mocks for the cloud components' tests: records every resource with its inputs and
// returns plausible provider outputs. Not a test file itself (imported by them).
import * as pulumi from "@pulumi/pulumi";
import { cloudflareSdk, hcloudSdk, scalewaySdk } from "../cloud-sdks";

export interface Recorded {
  type: string;
  name: string;
  /** Inputs with secrets unwrapped. */
  inputs: Record<string, unknown>;
  /** Top-level inputs that were (or contained) secrets. */
  secretInputs: string[];
  /** The id the mocks gave it. */
  id: string;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function unwrap(v: unknown, found: { secret: boolean }): unknown {
  if (Array.isArray(v)) return v.map((x) => unwrap(x, found));
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (SECRET_SIG in o) {
      found.secret = true;
      return unwrap(o.value, found);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrap(x, found)]));
  }
  return v;
}

let counter = 1000;

/** The stack's enrollment key in the mocks (EnrollmentKey makes a random one). */
export const MOCK_ENROLLMENT_KEY = Buffer.alloc(32, 7).toString("base64url");

/** Records every resource the code under test declares; `stack` names the stack (default "test"). */
export function setCloudMocks(stack = "test"): Recorded[] {
  // The cloud SDKs load at their first use (components/cloud-sdks.ts), and each resource module
  // of theirs at its first use. Loaded here, each export, before the code under test runs (as
  // importing them into a component did), no resource of a program run registers later than it
  // did then: the unit files share their worker's modules and mocks, and a late registration
  // would reach the next file's mocks (see settle below).
  for (const sdk of [cloudflareSdk(), hcloudSdk(), scalewaySdk()] as unknown as Record<string, unknown>[])
    for (const k of Object.keys(sdk)) void sdk[k];
  const created: Recorded[] = [];
  let servers = 0;
  let ips = 0;
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs: Record<string, unknown> = {};
        const secretInputs: string[] = [];
        for (const [k, v] of Object.entries(args.inputs as Record<string, unknown>)) {
          const found = { secret: false };
          inputs[k] = unwrap(v, found);
          if (found.secret) secretInputs.push(k);
        }
        const id = String(counter++);
        const resourceId = args.type.startsWith("scaleway:") ? `fr-par-1/${id}` : id;
        created.push({ type: args.type, name: args.name, inputs, secretInputs, id: resourceId });
        const extra: Record<string, unknown> = {};
        // Each server its own address, in the order they are declared: 203.0.113.10, .11, …
        if (args.type === "hcloud:index/server:Server") extra.ipv4Address = `203.0.113.${10 + servers++}`;
        if (args.type === "scaleway:instance/ip:Ip") extra.address = `198.51.100.${20 + ips++}`;
        if (inputs.berthKind === "enrollment-key") extra.key = MOCK_ENROLLMENT_KEY;
        if (inputs.berthKind === "node-identity") {
          extra.publicKey = `mock-sealing-key-of-${String(inputs.nodeId)}`;
          extra.statusKey = `mock-status-key-of-${String(inputs.nodeId)}`;
        }
        if (inputs.berthKind === "origin-key-request") {
          extra.csr = "mock-csr";
          extra.privateKey = "mock-private-key";
        }
        if (args.type === "cloudflare:index/originCaCertificate:OriginCaCertificate") {
          extra.certificate = "mock-origin-certificate";
          extra.expiresOn = "2041-11-25T00:00:00Z";
        }
        if (args.type === "hcloud:index/volume:Volume")
          extra.linuxDevice = `/dev/disk/by-id/scsi-0HC_Volume_${id}`;
        if (args.type === "cloudflare:index/apiToken:ApiToken") extra.value = "cf-token-value";
        if (args.type === "scaleway:iam/apiKey:ApiKey") {
          extra.accessKey = `SCW${id}`;
          extra.secretKey = `secret-${id}`;
        }
        if (args.type === "scaleway:registry/namespace:Namespace")
          extra.endpoint = `rg.${String(inputs.region ?? "fr-par")}.scw.cloud/${String(inputs.name)}`;
        return {
          id: resourceId,
          state: { ...args.inputs, ...extra },
        };
      },
      call(args) {
        if (
          args.token === "cloudflare:index/getApiTokenPermissionGroupsList:getApiTokenPermissionGroupsList"
        ) {
          const name = String(args.inputs.name);
          return { results: [{ id: `pg-${name.toLowerCase().replace(/\s+/g, "-")}`, name }] };
        }
        return args.inputs;
      },
    },
    "berth",
    stack,
    false,
  );
  forwardLateOutputs();
  return created;
}

/** The part of the SDK's MockMonitor this file relies on (a class the SDK does not export). */
interface MockMonitorLike {
  resources: Map<string, unknown>;
  registerResourceOutputs(req: { getUrn(): string }, callback: (err: unknown, res: unknown) => void): void;
}

/**
 * The mock monitors of this worker's earlier program runs, newest first (a few are enough). Kept
 * on the global object: stacks/testdata/program.ts resets the worker's modules before each program
 * run, which would start a module-level list afresh and forget the monitors of earlier runs.
 */
const EARLIER = Symbol.for("berth.test.earlierMockMonitors");
const worker = globalThis as Record<symbol, MockMonitorLike[] | undefined>;
worker[EARLIER] ??= [];
const earlierMonitors: MockMonitorLike[] = worker[EARLIER];

/**
 * Unit files share their worker (vitest.config.mts: isolate false), so a file's components can
 * still be resolving their outputs when the next file sets its mocks: a component's
 * registerResourceOutputs then reaches a monitor that never saw it, which throws "unknown
 * resource" as an unhandled rejection, and vitest fails the whole run for it (seen at a load of
 * 10: `stacks/program-scaleway.test.ts` got the late outputs of an earlier file's `web-1`). Such
 * late outputs go to the monitor that registered the resource, as an engine would route them; an
 * unknown resource is still an error.
 */
function forwardLateOutputs(): void {
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorLike;
  const own = monitor.registerResourceOutputs.bind(monitor);
  const earlier = [...earlierMonitors];
  monitor.registerResourceOutputs = (req, callback) => {
    const urn = req.getUrn();
    const owner = monitor.resources.has(urn) ? undefined : earlier.find((m) => m.resources.has(urn));
    if (owner) owner.registerResourceOutputs(req, callback);
    else own(req, callback);
  };
  earlierMonitors.unshift(monitor);
  earlierMonitors.length = Math.min(earlierMonitors.length, 8);
}

export function value<T>(o: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

export function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(o);
}

/** The SDK's own wait for its outstanding calls to the monitor (exported, but marked internal). */
const rpcs = pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> };

/**
 * Waits until the mocks have seen every call the program has made so far, components' outputs
 * included. A fixed sleep was not enough under load: a component's registerResourceOutputs from one
 * program run then reached the next run's mocks, which threw "unknown resource" as an unhandled
 * error, and vitest fails a run that has one.
 */
export async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  await rpcs.waitForRPCs();
}
