// The access endpoint over TLS, as on a cloud node's 443 behind Cloudflare: HAProxy's TLS frontend
// (here a free port on 127.0.0.1) with the certificate a release delivered carries `berth logs`
// and `berth exec` to the real agent daemon, the bundled CLI verifying the node's certificate
// (trusted through NODE_EXTRA_CA_CERTS, as a private CA would be). A CLI that does not trust the
// certificate stops at the TLS handshake: no token is sent.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessStatus, type Operator } from "../../contract/access";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { tlsSecretName } from "../../contract/release/tls";
import { makeTestCertificate } from "../../contract/release/tls-testing";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `acctls-${Math.random().toString(36).slice(2, 6)}`;
const HOST = "localhost";
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const dir = mkdtempSync(join(tmpdir(), "berth-access-tls-"));
const alice = generateSigningKeyPair();
writeFileSync(join(dir, "alice.key"), `${alice.privateKey}\n`, { mode: 0o600 });
const operators: Operator[] = [
  { name: "alice", publicKey: alice.publicKey, environments: [ENV], workspaces: [] },
];
const caFile = join(dir, "node-ca.pem");

/** The bundled CLI against the TLS frontend; `trust`: the node's certificate is a trusted CA. */
function berth(args: string[], o: { command?: string[]; trust?: boolean } = {}) {
  const access = [
    "--url",
    `https://${HOST}:${h.tlsPort}`,
    "--operator",
    "alice",
    "--key",
    join(dir, "alice.key"),
  ];
  return run(process.execPath, [BERTH, ...args, ...access, ...(o.command ? ["--", ...o.command] : [])], {
    allowFailure: true,
    timeoutMs: 60_000,
    env: { NODE_EXTRA_CA_CERTS: o.trust === false ? "" : caFile },
  });
}

beforeAll(async () => {
  const image = await testAppImage();
  const cert = await makeTestCertificate([HOST]);
  writeFileSync(caFile, cert.certificate);
  await h.startDaemon({ healthTimeoutSeconds: 30, tls: true });
  const s = await h.deployToDaemon(ENV, 1, appManifest({ message: "v1", image }), {
    access: { operators, commands: true },
    secrets: { [tlsSecretName("app")]: cert.bundle },
  });
  expect(s.state, `${s.error}\n${h.daemonLog()}`).toBe("applied");
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("access through the proxy's TLS frontend", () => {
  it("berth logs and berth exec over https, the node's certificate verified", async () => {
    const logs = await berth(["logs", ENV, "web"]);
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toContain("web.1 r1 | web starting: v1");
    const exec = await berth(["exec", ENV, "web"], { command: ["sh", "-c", "echo over-tls; exit 7"] });
    expect(exec.stdout).toContain("over-tls");
    expect(exec.exitCode, exec.stderr).toBe(7);
    const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
    const sessions = text ? accessStatus.parse(JSON.parse(text)).sessions : [];
    expect(sessions.filter((x) => x.operator === "alice").map((x) => x.action)).toEqual(
      expect.arrayContaining(["logs", "exec"]),
    );
  });

  it("a CLI that does not trust the node's certificate stops at the handshake", async () => {
    const before = (await h.channel.get(channelKeys.accessStatus(h.nodeId))) ?? "";
    const r = await berth(["logs", ENV, "web"], { trust: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/self[- ]signed certificate|unable to verify/i);
    expect((await h.channel.get(channelKeys.accessStatus(h.nodeId))) ?? "").toBe(before);
  });
});
