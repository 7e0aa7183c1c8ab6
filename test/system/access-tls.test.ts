// The access endpoint over TLS, as on a cloud node's 443 behind Cloudflare: HAProxy's TLS frontend
// (here a free port on 127.0.0.1) with the certificate a release delivered carries `berth logs`
// and `berth exec` to the real agent daemon, the bundled CLI verifying the node's certificate
// (trusted through NODE_EXTRA_CA_CERTS, as a private CA would be). A CLI that does not trust the
// certificate stops at the TLS handshake: no token is sent. `berth workspace cp` both ways over it:
// the upload's PUT and the download's GET (the splice relay's answer, which HAProxy encrypts).
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ACCESS_PROTOCOL,
  accessStatus,
  encodeAccessToken,
  type Operator,
  signAccessToken,
} from "../../contract/access";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair } from "../../contract/payload";
import { tlsSecretName } from "../../contract/release/tls";
import { makeTestCertificate } from "../../contract/release/tls-testing";
import { workspaceKeys } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { sampleConfig, sampleRepository } from "./support/devcontainer-repo";
import { testAppImage } from "./support/test-app-image";
import {
  declareWorkspace,
  removeLocalWorkspaceImages,
  removeWorkspaceObjects,
  until,
  workspaceDeclaration,
  workspaceRunning,
} from "./support/workspace-daemon";

const RUN = Math.random().toString(36).slice(2, 6);
const ENV = `acctls-${RUN}`;
const WS = `acctls-ws-${RUN}`;
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
let repo = "";

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
  // A workspace alice may enter, on the same node: its files cross the same TLS frontend.
  repo = await sampleRepository(
    "berth-sample-busybox",
    { ".devcontainer/devcontainer.json": sampleConfig({ postCreateCommand: "true" }) },
    "busybox",
  );
  await declareWorkspace(
    h,
    workspaceDeclaration(h, {
      workspaceId: WS,
      repository: repo,
      repositoryName: `acme/acctls-${RUN}`,
      access: {
        operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [WS] }],
        commands: true,
      },
    }),
  );
  await workspaceRunning(h, WS);
}, 900_000);
afterAll(async () => {
  await h.channel.delete(workspaceKeys.declaration(h.nodeId, WS)).catch(() => {});
  await h.cleanup([ENV]);
  await removeWorkspaceObjects(WS, RUN);
  await removeLocalWorkspaceImages(`acme/acctls-${RUN}`);
  if (repo) rmSync(repo, { recursive: true, force: true });
}, 120_000);

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

  it("berth workspace cp both ways over https: the upload's PUT and the download's GET, byte for byte", async () => {
    const src = join(dir, "tls-in.bin");
    const back = join(dir, "tls-back.bin");
    const bytes = randomBytes(5 * 1024 * 1024 + 17);
    writeFileSync(src, bytes);
    const up = await berth(["workspace", "cp", src, `${WS}:/tmp/tls.bin`]);
    expect(up.exitCode, up.stderr).toBe(0);
    const down = await berth(["workspace", "cp", `${WS}:/tmp/tls.bin`, back]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(readFileSync(back).equals(bytes)).toBe(true);
    // The download is the GET's answer (the splice relay's head and length), not a session: asked
    // with curl through the TLS frontend, the node's certificate verified.
    const t = signAccessToken({
      operator: "alice",
      privateKey: alice.privateKey,
      node: h.nodeId,
      target: { kind: "workspace", id: WS },
      action: "file-read",
      request: { path: "/tmp/tls.bin", protocol: ACCESS_PROTOCOL },
    });
    const raw = join(dir, "tls-raw.bin");
    const head = await run(
      "curl",
      [
        "-sS",
        // As the CLI asks (node's https client speaks HTTP/1.1; the frontend offers h2 too).
        "--http1.1",
        "--max-time",
        "60",
        "--cacert",
        caFile,
        "-D",
        "-",
        "-o",
        raw,
        "-H",
        `authorization: ${encodeAccessToken(t)}`,
        `https://${HOST}:${h.tlsPort}/.berth/access/v1/workspaces/${WS}/file-read`,
      ],
      { allowFailure: true },
    );
    expect(head.stdout, head.stderr).toMatch(/^HTTP\/1\.1 200 /);
    expect(head.stdout).toMatch(/\r\ncontent-type: application\/octet-stream\r\n/i);
    expect(head.stdout).toMatch(new RegExp(`\\r\\ncontent-length: ${bytes.length}\\r\\n`, "i"));
    expect(readFileSync(raw).equals(bytes)).toBe(true);
    // The relay's answer reached curl before the agent recorded the session's end: wait for that
    // record (the next test compares the status before and after a refused handshake).
    await until(
      h,
      "the copies' sessions to be recorded as ended",
      async () => {
        const text = await h.channel.get(channelKeys.accessStatus(h.nodeId));
        const sessions = text ? accessStatus.parse(JSON.parse(text)).sessions : [];
        const copies = sessions.filter((x) => x.action === "file-read" || x.action === "file-write");
        return copies.length >= 3 && copies.every((x) => x.endedAt !== undefined) ? true : undefined;
      },
      60_000,
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
