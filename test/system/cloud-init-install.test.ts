// The node's install steps for real: the rendered user data of a workspace node (inline agent
// bundle; everything a deployment node installs, plus git, the devcontainer CLI and the lazy-
// pulling tools) run by cloud-init inside a throwaway container from the base image
// ($BERTH_BASE_IMAGE, Debian trixie). systemd does not run in a container, so after the stages the
// test checks what was installed and starts the agent, the snapshotter, containerd and dockerd by
// hand, as their units say. The channel is a real S3 server: the program's StargzTools provider
// publishes this machine's stargz build into a versitygw on the host, and a second versitygw inside
// the container serves the same folder on the node's loopback. Then a channel writer's attacks on
// the tools, each against the real installer: the node stays on overlay2 and says why. Needs
// Docker (privileged: the node's own dockerd, FUSE), Debian's archive and the npm registry; alone:
//   bash scripts/with-env.sh npx vitest run --project system test/system/cloud-init-install.test.ts
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AGENT_BUNDLE_PATH,
  AGENT_CONFIG_PATH,
  AGENT_UNIT_PATH,
  CHANNEL_SECRET_PATH,
  ENROLLMENT_SECRET_PATH,
  renderCloudInit,
} from "../../components/deployment-node/cloud-init";
import { STARGZ_INSTALLER_PATH } from "../../components/deployment-node/stargz-installer";
import { defaultStargzToolsDir, readStargzBuild } from "../../components/release-channel/stargz-tools";
import { create as publishTools, type StargzToolsInputs } from "../../components/runtime/stargz-tools";
import { AGENT_BUNDLE } from "../../components/runtime-path";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import {
  DOCKER_DAEMON_JSON_PATH,
  NODE_DOCKERD_SETTINGS,
  renderDockerDaemonJson,
} from "../../contract/node/docker-daemon";
import { NODE_LAZY_PULL, workspaceDockerdSettings } from "../../contract/node/lazy-pull";
import { PROXY_UNIT_PATH } from "../../contract/node/proxy-unit";
import { generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import {
  NODE_TOOLS_MANIFEST_KEY,
  type NodeArch,
  signNodeTools,
  verifyNodeTools,
} from "../../contract/trust/node-tools";
import { run } from "../../lib/process";
import { renderHaproxyConfig } from "../../node-agent/proxy/haproxy-config";
import { Versitygw } from "./support/versitygw";

const image = process.env.BERTH_BASE_IMAGE;
const name = `berth-ci-install-${process.pid}`;
const release = generateSigningKeyPair();
const gw = new Versitygw();
/** The node's own arch (this machine's) and the other one, whose files an attacker swaps in. */
const arch: NodeArch = process.arch === "arm64" ? "arm64" : "amd64";
const other: NodeArch = arch === "amd64" ? "arm64" : "amd64";
/** The channel's inner port, inside the container. */
const INNER_PORT = 9000;

async function exec(cmd: string, timeoutMs = 120_000) {
  return run("docker", ["exec", name, "sh", "-c", cmd], { allowFailure: true, timeoutMs });
}
const store = () =>
  new S3ChannelStore({
    endpoint: gw.endpoint,
    bucket: "channel",
    region: "us-east-1",
    prefix: "",
    accessKeyId: gw.accessKey,
    secretAccessKey: gw.secretKey,
  });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let published: { manifest: string; files: Map<string, Buffer> };
let dir = "";

beforeAll(async () => {
  if (!image) throw new Error("BERTH_BASE_IMAGE is not set: run through scripts/with-env.sh");
  await gw.start();
  gw.bucket("channel");
  // The program's side: this machine's stargz build, both CPUs, published and signed as
  // `pulumi up` publishes it (the StargzTools provider).
  const build = readStargzBuild(defaultStargzToolsDir(), ["amd64", "arm64"]);
  const inputs: StargzToolsInputs = {
    berthKind: "stargz-tools",
    berthProviderVersion: "1",
    channel: {
      kind: "s3",
      endpoint: gw.endpoint,
      bucket: "channel",
      region: "us-east-1",
      prefix: "",
      accessKeyId: gw.accessKey,
      secretAccessKey: gw.secretKey,
    },
    ...build,
    signingKey: release.privateKey,
  };
  await publishTools(inputs);
  const manifest = (await store().get(NODE_TOOLS_MANIFEST_KEY)) ?? "";
  const payload = verifyNodeTools(manifest, new TrustedKeys([release.publicKey]));
  published = {
    manifest,
    files: new Map(
      payload.files.map((f) => [f.key, readFileSync(join(build.dir, `linux-${f.arch}`, f.name))]),
    ),
  };
}, 120_000);

afterAll(async () => {
  await run("docker", ["rm", "-f", "-v", name], { allowFailure: true });
  await gw.cleanup();
});

describe("cloud-init install steps of a workspace node in a throwaway container", () => {
  it("installs Docker, Compose, HAProxy, Node.js, the agent with its config and secret, and the verified stargz tools", async () => {
    const userData = renderCloudInit({
      nodeId: "ci-node",
      channel: {
        endpoint: `http://127.0.0.1:${INNER_PORT}`,
        bucket: "channel",
        region: "us-east-1",
        prefix: "",
        accessKeyId: gw.accessKey,
        secretAccessKey: gw.secretKey,
      },
      trustedKeys: [release.publicKey],
      enrollmentSecret: randomBytes(32).toString("base64url"),
      agent: { kind: "inline", bundle: readFileSync(AGENT_BUNDLE, "utf8") },
      role: "workspace",
    });
    dir = mkdtempSync(join(tmpdir(), "berth-ci-install-"));
    writeFileSync(join(dir, "user-data"), userData);
    writeFileSync(join(dir, "meta-data"), "instance-id: berth-ci-install\nlocal-hostname: ci-node\n");

    // Privileged with volumes of their own: the node's dockerd and the snapshotter's FUSE and
    // overlay mounts (an overlay cannot sit on the container's own overlay root).
    await run(
      "docker",
      [
        "run",
        "-d",
        "--name",
        name,
        "--privileged",
        "-v",
        `${join(gw.dir, "data")}:/srv/channel`,
        ...["/var/lib/docker", "/var/lib/containerd", NODE_LAZY_PULL.snapshotterRoot].flatMap((v) => [
          "-v",
          v,
        ]),
        image as string,
        "sleep",
        "infinity",
      ],
      { timeoutMs: 60_000 },
    );
    const prep = await exec(
      // systemd: its systemd-analyze checks the installed units (systemd itself does not run here).
      "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q cloud-init systemd >/dev/null",
      600_000,
    );
    expect(prep.exitCode, prep.stderr).toBe(0);
    // The node's channel on its loopback: the host's channel folder, served by a versitygw inside.
    const versitygw = (await run("sh", ["-c", "command -v versitygw"])).stdout.trim();
    await run("docker", ["cp", versitygw, `${name}:/usr/local/sbin/versitygw`]);
    await run("docker", [
      "exec",
      "-d",
      "-e",
      `ROOT_ACCESS_KEY=${gw.accessKey}`,
      "-e",
      `ROOT_SECRET_KEY=${gw.secretKey}`,
      name,
      "/usr/local/sbin/versitygw",
      "--port",
      `127.0.0.1:${INNER_PORT}`,
      "posix",
      "/srv/channel",
    ]);
    await run("docker", ["exec", name, "mkdir", "-p", "/var/lib/cloud/seed/nocloud"]);
    for (const f of ["user-data", "meta-data"]) {
      await run("docker", ["cp", join(dir, f), `${name}:/var/lib/cloud/seed/nocloud/${f}`]);
    }
    // The stages; modules that need a full OS (locale, ssh host keys, systemctl) fail harmlessly here.
    for (const stage of [
      "cloud-init init --local",
      "cloud-init init",
      "cloud-init modules --mode=config",
      "cloud-init modules --mode=final",
    ]) {
      await exec(stage, 900_000);
    }

    // Packages from Debian's own archive, no third-party source.
    const versions = await exec(
      "docker --version && docker compose version && docker buildx version && haproxy -v | head -1 && node --version && restic version && unpigz -V && git --version",
    );
    expect(versions.exitCode, versions.stderr).toBe(0);
    expect(versions.stdout).toMatch(/Docker Compose version v?2\./);
    expect(versions.stdout).toMatch(/^pigz \d/m);
    // Docker 23 or later pulls the zstd layers of workspace cache images.
    const engine = Number(versions.stdout.match(/^Docker version (\d+)\./m)?.[1]);
    expect(engine, versions.stdout).toBeGreaterThanOrEqual(23);
    const sources = await exec("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null");
    expect(sources.stdout).not.toMatch(/download\.docker\.com|nodesource/);

    // The stargz tools: verified and installed for this CPU, with the lazy-pull settings. No
    // systemd here, so the installer left the services to start (below).
    const outcome = JSON.parse((await exec(`cat ${NODE_LAZY_PULL.outcome}`)).stdout);
    const build = JSON.parse(published.manifest).payload.build;
    expect(outcome).toEqual({ lazyPull: "installed", build, arch });
    for (const [bin, tool] of [
      [NODE_LAZY_PULL.snapshotterBin, "berth-stargz-snapshotter"],
      [NODE_LAZY_PULL.estargzBin, "berth-estargz"],
    ] as const) {
      const got = await exec(`sha256sum ${bin} && stat -c %a ${bin}`);
      const want = published.files.get(`agent/stargz/${build}/linux-${arch}/${tool}`) as Buffer;
      expect(got.stdout).toContain(sha(want));
      expect(got.stdout).toMatch(/\n755\n?$/);
    }
    // Both daemon.json files are ones this dockerd accepts: the plain one a deployment node keeps
    // (and a workspace node whose tools were refused), and the lazy one the installer wrote.
    expect(JSON.parse((await exec(`cat ${DOCKER_DAEMON_JSON_PATH}`)).stdout)).toEqual(
      workspaceDockerdSettings(),
    );
    await exec(`printf '%s' '${renderDockerDaemonJson()}' > /tmp/plain-daemon.json`);
    for (const f of [DOCKER_DAEMON_JSON_PATH, "/tmp/plain-daemon.json"]) {
      const v = await exec(`dockerd --validate --config-file ${f}`);
      expect(`${v.stdout}${v.stderr}`, f).toMatch(/configuration OK/);
    }
    expect(JSON.parse((await exec("cat /tmp/plain-daemon.json")).stdout)).toEqual(NODE_DOCKERD_SETTINGS);

    // Files and modes.
    const modes = await exec(
      `stat -c '%a %n' ${AGENT_CONFIG_PATH} ${CHANNEL_SECRET_PATH} ${ENROLLMENT_SECRET_PATH} ${AGENT_BUNDLE_PATH} ${AGENT_UNIT_PATH} ${PROXY_UNIT_PATH} ${STARGZ_INSTALLER_PATH} ${NODE_LAZY_PULL.snapshotterRoot} ${NODE_LAZY_PULL.snapshotterDockerConfig}`,
    );
    expect(modes.stdout).toContain(`600 ${AGENT_CONFIG_PATH}`);
    expect(modes.stdout).toContain(`600 ${CHANNEL_SECRET_PATH}`);
    expect(modes.stdout).toContain(`600 ${ENROLLMENT_SECRET_PATH}`);
    expect(modes.stdout).toContain(`755 ${AGENT_BUNDLE_PATH}`);
    expect(modes.stdout).toContain(`644 ${AGENT_UNIT_PATH}`);
    expect(modes.stdout).toContain(`644 ${PROXY_UNIT_PATH}`);
    expect(modes.stdout).toContain(`755 ${STARGZ_INSTALLER_PATH}`);
    expect(modes.stdout).toContain(`700 ${NODE_LAZY_PULL.snapshotterDockerConfig}`);

    // The units as systemd reads them (its own checker: unknown keys, bad values, missing binaries).
    const verify = await exec(
      `systemd-analyze verify ${AGENT_UNIT_PATH} ${PROXY_UNIT_PATH} ${NODE_LAZY_PULL.unitPath}`,
    );
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe("");

    // HAProxy as its unit runs it, on a configuration as the agent renders it (Debian 13's
    // HAProxy): the check, then `-Ws`; the master stays root, the worker is the haproxy user.
    const proxyDir = "/var/lib/berth/proxy";
    const cfg = renderHaproxyConfig({
      socketPath: `${proxyDir}/admin.sock`,
      http: { address: "127.0.0.1", port: 8080 },
      serverStateFile: `${proxyDir}/server-state`,
      routes: [{ host: "app.example" }],
      user: "haproxy",
      group: "haproxy",
      log: "stdout",
    });
    writeFileSync(join(dir, "haproxy.cfg"), cfg);
    await exec(`mkdir -p -m 0700 ${proxyDir} && printf '1\\n' > ${proxyDir}/server-state`);
    await run("docker", ["cp", join(dir, "haproxy.cfg"), `${name}:${proxyDir}/haproxy.cfg`]);
    const started = await exec(
      `sh -c "$(sed -n 's/^ExecStartPre=//p' ${PROXY_UNIT_PATH})" && ` +
        `(setsid sh -c "$(sed -n 's/^ExecStart=//p' ${PROXY_UNIT_PATH})" >/tmp/haproxy.out 2>&1 &) && sleep 2 && ` +
        `for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = haproxy ] && stat -c %U $d; done | sort`,
    );
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.stdout.trim().split("\n")).toEqual(["haproxy", "root"]);

    // The installed agent runs and reads its config (systemd is not running: start it by hand).
    const version = await exec(`/usr/bin/node ${AGENT_BUNDLE_PATH} version`);
    expect(version.exitCode, version.stderr).toBe(0);
    const keysOut = await exec(`/usr/bin/node ${AGENT_BUNDLE_PATH} keys --config ${AGENT_CONFIG_PATH}`);
    expect(keysOut.exitCode, keysOut.stderr).toBe(0);
    expect(keysOut.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 1_800_000);

  it("starts the snapshotter, containerd and dockerd as their units say: dockerd's storage driver is stargz, and a container runs on it", async () => {
    // The snapshotter as its unit runs it (environment and command line), then Debian's containerd
    // on the config the installer wrote, then dockerd as Debian's docker.service starts it.
    const unitLine = (unit: string, key: string) => `$(sed -n 's/^${key}=//p' ${unit} | head -1)`;
    const up = await exec(
      `modprobe fuse 2>/dev/null; export $(sed -n 's/^Environment=//p' ${NODE_LAZY_PULL.unitPath}) && ` +
        `(setsid sh -c "${unitLine(NODE_LAZY_PULL.unitPath, "ExecStart")}" >/tmp/stargz.log 2>&1 &) && ` +
        `for i in $(seq 100); do [ -S ${NODE_LAZY_PULL.snapshotterSocket} ] && break; sleep 0.2; done && ` +
        "(setsid containerd >/tmp/containerd.log 2>&1 &) && " +
        "for i in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done && " +
        `(setsid sh -c "$(sed -n 's/^ExecStart=//p' /lib/systemd/system/docker.service | sed 's|-H fd:// ||; s|[$]DOCKER_OPTS||')" >/tmp/dockerd.log 2>&1 &) && ` +
        "for i in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done; docker info --format '{{.Driver}}'",
      180_000,
    );
    const logs = (await exec("tail -5 /tmp/stargz.log /tmp/containerd.log /tmp/dockerd.log")).stdout;
    expect(up.stdout.trim(), `${up.stderr}\n${logs}`).toBe("stargz");
    const plugins = await exec("ctr plugins ls | grep -w stargz");
    expect(plugins.stdout).toMatch(/io\.containerd\.snapshotter\.v1\s+stargz\s+\S+\s+ok\s*$/m);
    // An image of one static program, imported and run on the snapshotter.
    const ran = await exec(
      `cd /usr/local/bin && tar -c berth-estargz | docker import - berth-ci/estargz:1 >/dev/null && docker run --rm --network none berth-ci/estargz:1 /berth-estargz 2>&1; echo "exit=$?"`,
      120_000,
    );
    // The program ran in the container (its usage and exit code), its file read through the snapshotter.
    expect(ran.stdout).toMatch(/^usage: berth-estargz LAYOUT_DIR/m);
    expect(ran.stdout).toMatch(/^exit=2$/m);
    expect((await exec("docker info --format '{{.Driver}}'")).stdout.trim()).toBe("stargz");
  }, 300_000);

  describe("a channel writer's attacks on the tools: the node refuses them, stays on overlay2 and says why", () => {
    /** The node as before the install: no tools, its plain daemon.json, Debian's containerd config. */
    async function freshNode() {
      const r = await exec(
        `rm -f ${NODE_LAZY_PULL.snapshotterBin} ${NODE_LAZY_PULL.estargzBin} ${NODE_LAZY_PULL.outcome} ${NODE_LAZY_PULL.containerdConfig} ${NODE_LAZY_PULL.unitPath} ${NODE_LAZY_PULL.snapshotterConfig} && cp /tmp/plain-daemon.json ${DOCKER_DAEMON_JSON_PATH}`,
      );
      expect(r.exitCode, r.stderr).toBe(0);
    }
    async function install() {
      const r = await exec(`/usr/bin/node ${STARGZ_INSTALLER_PATH}`, 300_000);
      expect(r.exitCode, r.stderr).toBe(0);
      return { ...r, outcome: JSON.parse((await exec(`cat ${NODE_LAZY_PULL.outcome}`)).stdout) };
    }
    async function stillPlain() {
      const left = await exec(
        `ls ${NODE_LAZY_PULL.snapshotterBin} ${NODE_LAZY_PULL.estargzBin} ${NODE_LAZY_PULL.containerdConfig} ${NODE_LAZY_PULL.unitPath} 2>/dev/null; cat ${DOCKER_DAEMON_JSON_PATH}`,
      );
      expect(JSON.parse(left.stdout)).toEqual(NODE_DOCKERD_SETTINGS);
    }
    const build = () => JSON.parse(published.manifest).payload.build as string;
    const key = (a: NodeArch, tool = "berth-stargz-snapshotter") =>
      `agent/stargz/${build()}/linux-${a}/${tool}`;
    async function restoreChannel() {
      for (const [k, v] of published.files) await store().put(k, v);
      await store().put(NODE_TOOLS_MANIFEST_KEY, published.manifest);
    }

    it("a tampered binary (one byte changed, still an executable for this CPU)", async () => {
      await freshNode();
      const tampered = Buffer.from(published.files.get(key(arch)) as Buffer);
      tampered[tampered.length - 100] = (tampered[tampered.length - 100] ?? 0) ^ 0xff;
      await store().put(key(arch), tampered);
      const r = await install();
      expect(r.outcome.lazyPull).toBe("off");
      expect(r.outcome.reason).toMatch(
        new RegExp(`${key(arch)} does not match the signed manifest \\(sha256 ${sha(tampered).slice(0, 12)}`),
      );
      expect(r.stderr).toMatch(
        /lazy pulling is off on this node \(workspace images pull in full, overlay2\)/,
      );
      await stillPlain();
      await restoreChannel();
    }, 300_000);

    it("a manifest signed by another key (the same files, named by a channel writer's key)", async () => {
      await freshNode();
      const evil = generateSigningKeyPair();
      const build = readStargzBuild(defaultStargzToolsDir(), ["amd64", "arm64"]);
      const forged = signNodeTools(
        [...published.files].map(([k, bytes]) => {
          const [, , , dirName, tool] = k.split("/");
          return { name: tool as "berth-estargz", arch: dirName?.slice(6) as NodeArch, bytes };
        }),
        { build: build.build, signingKey: evil.privateKey },
      );
      await store().put(NODE_TOOLS_MANIFEST_KEY, JSON.stringify(forged));
      const r = await install();
      expect(r.outcome.lazyPull).toBe("off");
      expect(r.outcome.reason).toMatch(
        /is not signed by a release key this node trusts \(signed by ed25519:/,
      );
      await stillPlain();
      await restoreChannel();
    }, 300_000);

    it("a binary for the other CPU swapped in under this CPU's key", async () => {
      await freshNode();
      await store().put(key(arch), published.files.get(key(other)) as Buffer);
      const r = await install();
      expect(r.outcome).toMatchObject({ lazyPull: "off", arch });
      expect(r.outcome.reason).toBe(
        `${key(arch)} is an executable for ${other}, not for this node's ${arch}`,
      );
      await stillPlain();
      await restoreChannel();
    }, 300_000);

    it("no tools in the channel at all", async () => {
      await freshNode();
      await store().delete(NODE_TOOLS_MANIFEST_KEY);
      const r = await install();
      expect(r.outcome.lazyPull).toBe("off");
      expect(r.outcome.reason).toMatch(
        new RegExp(`could not fetch ${NODE_TOOLS_MANIFEST_KEY} from the channel: .*404`),
      );
      await stillPlain();
      // The channel put back, the same installer installs again: the refusals were the attacks'.
      await restoreChannel();
      const again = await install();
      expect(again.outcome).toEqual({ lazyPull: "installed", build: build(), arch });
    }, 600_000);
  });
});
