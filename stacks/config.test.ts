import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configKey, localHealthTimeoutSeconds, parseStackConfig, StackConfigError } from "./config";
import { exampleConfig } from "./testdata/program";

const minimal = {
  "berth:signingKey": "k",
  "berth:environments": JSON.stringify([{ name: "demo", compose: "local/app/compose.yaml" }]),
};

function problems(all: Record<string, string>): string[] {
  try {
    parseStackConfig(all, "Pulumi.test.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(StackConfigError);
    return (e as StackConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

describe("parseStackConfig", () => {
  it("reads an environment's active Compose profiles, none by default, and names a bad one", () => {
    const env = (profiles?: unknown) =>
      JSON.stringify([
        { name: "demo", compose: "local/app/compose.yaml", ...(profiles ? { profiles } : {}) },
      ]);
    expect(
      parseStackConfig({ ...minimal, "berth:environments": env() }, "P").environments[0]?.profiles,
    ).toEqual([]);
    expect(
      parseStackConfig({ ...minimal, "berth:environments": env(["debug", "*"]) }, "P").environments[0]
        ?.profiles,
    ).toEqual(["debug", "*"]);
    expect(problems({ ...minimal, "berth:environments": env(["no spaces"]) }).join("\n")).toMatch(
      /berth:environments\[0\]\.profiles\[0\]/,
    );
  });

  it("reads an environment's backups, with defaults, and names each wrong backup key", () => {
    const env = (backup: unknown) =>
      JSON.stringify([{ name: "demo", compose: "local/app/compose.yaml", backup }]);
    const c = parseStackConfig(
      {
        ...minimal,
        "berth:secrets": JSON.stringify({
          "backup-password": "p",
          "backup-access-key-id": "a",
          "backup-secret-access-key": "s",
        }),
        "berth:environments": env({ target: { endpoint: "http://127.0.0.1:7070", bucket: "backups" } }),
      },
      "P",
    );
    expect(c.environments[0]?.backup).toMatchObject({
      target: { bucket: "backups", region: "auto", prefix: "" },
      schedule: "0 3 * * *",
      retention: { last: 3, daily: 7, weekly: 4, monthly: 6 },
      restoreOnFirstApply: true,
    });
    const p = problems({
      ...minimal,
      "berth:environments": env({
        target: { endpoint: "http://127.0.0.1:7070", bucket: "backups" },
        schedule: "daily",
        retention: { daily: -1 },
      }),
    });
    expect(p.join("\n")).toMatch(
      /berth:environments\[0\]\.backup\.schedule: "daily" is not a cron expression/,
    );
    expect(p.join("\n")).toMatch(/berth:environments\[0\]\.backup\.retention\.daily: /);
    expect(p.join("\n")).toMatch(
      /berth:environments\[0\]\.backup\.secrets\.password: the secret backup-password is not set/,
    );
  });

  it("reads berth:operators and names each wrong operator key", () => {
    const key = "A".repeat(43);
    const ops = (list: unknown) => ({ ...minimal, "berth:operators": JSON.stringify(list) });
    const c = parseStackConfig(ops([{ name: "alice", publicKey: key, environments: ["demo"] }]), "P");
    expect(c.operators).toEqual([{ name: "alice", publicKey: key, environments: ["demo"], workspaces: [] }]);
    expect(c.localCommands).toBe(false);
    expect(
      problems(
        ops([
          { name: "alice", publicKey: "short", environments: ["nope"] },
          { name: "alice", publicKey: key, workspaces: ["ws"] },
          { name: "bob", publicKey: key },
        ]),
      ),
    ).toContainEqual(
      expect.stringMatching(/berth:operators\[0\]\.publicKey: must be a raw 32-byte Ed25519 public key/),
    );
    expect(
      problems(
        ops([
          { name: "alice", publicKey: key, environments: ["nope"] },
          { name: "alice", publicKey: "B".repeat(43), workspaces: ["ws"] },
          { name: "bob", publicKey: key },
        ]),
      ),
    ).toEqual([
      'Pulumi.test.yaml: berth:operators[0].environments[0]: "nope" is not in berth:environments; use one of "demo", "*"',
      'Pulumi.test.yaml: berth:operators[1].name: "alice" is declared twice',
      'Pulumi.test.yaml: berth:operators[1].workspaces[0]: "ws" is not in berth:workspaces; use one of "*"',
      "Pulumi.test.yaml: berth:operators[2].publicKey: is also operator alice's key: give each operator a key of their own",
    ]);
  });

  it("fills defaults: local target, port 8088, no secrets", () => {
    expect(parseStackConfig(minimal, "Pulumi.local.yaml")).toMatchObject({
      target: "local",
      localHttpPort: 8088,
      secrets: {},
      environments: [{ name: "demo", variables: {}, allowImagesOutsideNamespace: false }],
    });
  });

  it("berth:healthTimeoutSeconds: the local nodes' health bound, apart from the release bound", () => {
    const c = (extra: Record<string, string>) => parseStackConfig({ ...minimal, ...extra }, "P");
    // Absent: the release bound, at most 120 s, as before the key.
    expect(localHealthTimeoutSeconds(c({}))).toBe(120);
    expect(localHealthTimeoutSeconds(c({ "berth:releaseTimeoutSeconds": "45" }))).toBe(45);
    // Given: a short release bound leaves the node's health checks their time.
    expect(
      localHealthTimeoutSeconds(
        c({ "berth:releaseTimeoutSeconds": "10", "berth:healthTimeoutSeconds": "60" }),
      ),
    ).toBe(60);
    expect(problems({ ...minimal, "berth:healthTimeoutSeconds": "2" }).join("\n")).toMatch(
      /berth:healthTimeoutSeconds: /,
    );
  });

  it("reads berth: keys and ignores other namespaces", () => {
    expect(
      parseStackConfig({ ...minimal, "berth:localHttpPort": "8090", "hcloud:token": "x" }, "P"),
    ).toMatchObject({
      target: "local",
      localHttpPort: 8090,
    });
  });

  it("names the key and the allowed values of a bad value, never the value itself", () => {
    const p = problems({ ...minimal, "berth:target": "aws" });
    expect(p[0]).toMatch(/^Pulumi\.test\.yaml: berth:target: .*"local".*"hetzner".*"scaleway"/);
  });

  it("names nested keys like berth:environments[0].name", () => {
    const p = problems({
      ...minimal,
      "berth:environments": JSON.stringify([{ name: "Demo!", compose: "x" }]),
    });
    expect(p).toEqual([
      "Pulumi.test.yaml: berth:environments[0].name: use 1-63 lowercase letters, digits and dashes, starting with a letter or digit",
    ]);
  });

  it("says how to set a missing key", () => {
    const p = problems({ "berth:environments": minimal["berth:environments"] });
    expect(p).toEqual([
      "Pulumi.test.yaml: berth:signingKey: missing (set it with `pulumi config set berth:signingKey VALUE`)",
    ]);
  });

  it("names an unknown key and lists the known ones", () => {
    const p = problems({ ...minimal, "berth:tagret": "local" });
    expect(p[0]).toContain("berth:tagret: unknown config key (known: berth:target");
  });

  it("formats paths", () => {
    expect(configKey(["environments", 2, "variables", "A"])).toBe("berth:environments[2].variables.A");
  });
});

const secrets = {
  "berth:signingKey": "k",
  "berth:channelAccessKeyId": "id",
  "berth:channelSecretAccessKey": "s",
  "berth:certificates": JSON.stringify({ "shop-origin": "bundle" }),
};
const hetzner = (): Record<string, string> => ({
  ...exampleConfig("Pulumi.hetzner.example.yaml"),
  ...secrets,
});
const scaleway = (): Record<string, string> => ({
  ...exampleConfig("Pulumi.scaleway.example.yaml"),
  ...secrets,
});
const withNode = (all: Record<string, string>, patch: Record<string, unknown>) => {
  const nodes = JSON.parse(all["berth:nodes"] ?? "[]") as Record<string, unknown>[];
  return { ...all, "berth:nodes": JSON.stringify([{ ...nodes[0], ...patch }]) };
};

describe("parseStackConfig: cloud targets", () => {
  it("accepts both example stack files, with defaults filled", () => {
    expect(parseStackConfig(hetzner(), "P")).toMatchObject({
      target: "hetzner",
      channel: {
        kind: "r2",
        bucket: "acme-berth-prod",
        jurisdiction: "default",
        location: "weur",
        prefix: "",
      },
      registry: { kind: "cloudflare", namespace: "acme/apps", pullExpirationMinutes: 10080 },
      nodes: [
        { id: "web-1", provider: "hcloud", location: "nbg1", sshKeys: ["ops"], deleteProtection: true },
      ],
      environments: [
        {
          name: "shop",
          node: "web-1",
          hosts: ["shop.example.com"],
          volumes: [{ name: "db_data", sizeGb: 20, protect: true }],
        },
      ],
    });
    expect(parseStackConfig(scaleway(), "P")).toMatchObject({
      target: "scaleway",
      channel: { kind: "scaleway", region: "fr-par" },
      registry: { kind: "scaleway", name: "acme-apps" },
      nodes: [
        { id: "app-1", provider: "scaleway", zone: "fr-par-1", rootVolumeSizeGb: 20, role: "deployment" },
      ],
    });
  });

  it("names the key and the allowed values of a bad location or zone", () => {
    expect(problems(withNode(hetzner(), { location: "fsn9" }))).toEqual([
      'Pulumi.test.yaml: berth:nodes[0].location: "fsn9" is not a Hetzner location; use one of fsn1, nbg1, hel1, ash, hil, sin',
    ]);
    expect(problems(withNode(scaleway(), { zone: "fr-par-9" }))[0]).toBe(
      'Pulumi.test.yaml: berth:nodes[0].zone: "fr-par-9" is not a Scaleway zone; use one of fr-par-1, fr-par-2, fr-par-3, nl-ams-1, nl-ams-2, nl-ams-3, pl-waw-1, pl-waw-2, pl-waw-3',
    );
    expect(problems(withNode(hetzner(), { provider: "aws" }))).toEqual([
      "Pulumi.test.yaml: berth:nodes[0].provider: use one of hcloud, scaleway",
    ]);
  });

  it("keeps a target's nodes on its provider and environments on declared nodes", () => {
    const scw = JSON.parse(scaleway()["berth:nodes"] ?? "[]");
    expect(problems({ ...hetzner(), "berth:nodes": JSON.stringify(scw) })).toContain(
      "Pulumi.test.yaml: berth:nodes[0].provider: the hetzner target runs nodes of provider hcloud, not scaleway",
    );
    const envs = JSON.parse(hetzner()["berth:environments"] ?? "[]");
    expect(
      problems({ ...hetzner(), "berth:environments": JSON.stringify([{ ...envs[0], node: "web-9" }]) }),
    ).toEqual(['Pulumi.test.yaml: berth:environments[0].node: "web-9" is not a node; use one of web-1']);
  });

  it("says what a cloud target misses: channel, credentials, accounts", () => {
    const { "berth:channelSecretAccessKey": _s, "berth:cloudflare": _c, ...rest } = hetzner();
    expect(problems(rest)).toEqual([
      "Pulumi.test.yaml: berth:environments[0].originCertificate: needs berth:cloudflare.zoneId (the zone whose hosts it covers)",
      "Pulumi.test.yaml: berth:channelSecretAccessKey: missing (set it with `pulumi config set --secret berth:channelSecretAccessKey VALUE`)",
      "Pulumi.test.yaml: berth:cloudflare.accountId: missing: an r2 channel and the cloudflare registry need the account id",
      "Pulumi.test.yaml: berth:environments[0].hosts: DNS records need berth:cloudflare.zoneId",
    ]);
    const { "berth:scaleway": _p, ...noProject } = scaleway();
    expect(problems(noProject)).toContain(
      "Pulumi.test.yaml: berth:scaleway.projectId: missing: a scaleway channel or registry needs the project id",
    );
    expect(problems({ ...hetzner(), "berth:channel": JSON.stringify({ kind: "s3", bucket: "b" }) })).toEqual([
      "Pulumi.test.yaml: berth:channel.kind: use one of r2, scaleway",
    ]);
  });

  it("refuses credentials held in plain text on cloud targets, naming the command", () => {
    const isSecret = (k: string) =>
      k === "berth:signingKey" || k === "berth:channelAccessKeyId" || k === "berth:certificates";
    try {
      parseStackConfig(hetzner(), "P.yaml", isSecret);
      throw new Error("expected a refusal");
    } catch (e) {
      expect((e as StackConfigError).problems).toEqual([
        "P.yaml: berth:channelSecretAccessKey: holds a credential in plain text; remove it and set it with `pulumi config set --secret berth:channelSecretAccessKey VALUE`",
      ]);
    }
    expect(() => parseStackConfig(hetzner(), "P.yaml", () => true)).not.toThrow();
  });

  it("needs every certificate an environment names, held as a secret, and none on the local target", () => {
    const named = (all: Record<string, string>): Record<string, string> => ({
      ...all,
      "berth:environments": JSON.stringify(
        (JSON.parse(all["berth:environments"] ?? "[]") as object[]).map((e) => ({
          ...e,
          certificates: ["shop-origin"],
        })),
      ),
    });
    expect(() => parseStackConfig(named(hetzner()), "Pulumi.test.yaml")).not.toThrow();
    const { "berth:certificates": _, ...without } = named(hetzner());
    expect(problems(without)).toEqual([
      `Pulumi.test.yaml: berth:environments[0].certificates[0]: no certificate "shop-origin" in berth:certificates; set it with \`pulumi config set --secret --path 'berth:certificates.shop-origin' "$(cat BUNDLE.pem)"\``,
    ]);
    expect(() =>
      parseStackConfig(named(hetzner()), "Pulumi.test.yaml", (k) => k !== "berth:certificates"),
    ).toThrow(/berth:certificates: holds a credential in plain text; .*--path 'berth:certificates.NAME'/);
    const local = {
      ...minimal,
      "berth:environments": JSON.stringify([
        { name: "demo", compose: "local/app/compose.yaml", certificates: ["x"] },
      ]),
    };
    expect(problems(local)).toEqual([
      "Pulumi.test.yaml: berth:environments[0].certificates[0]: the local target serves plain HTTP; certificates are for cloud nodes",
    ]);
  });

  it("keeps berth:healthTimeoutSeconds to the local target's nodes", () => {
    expect(problems({ ...hetzner(), "berth:healthTimeoutSeconds": "60" })).toEqual([
      "Pulumi.test.yaml: berth:healthTimeoutSeconds: only for the local target's nodes; cloud nodes keep the agent's 120 s (it would change their user data, which replaces them): remove it with `pulumi config rm berth:healthTimeoutSeconds`",
    ]);
  });

  it("keeps cloud keys off the local target", () => {
    expect(problems({ ...minimal, "berth:nodes": hetzner()["berth:nodes"] ?? "" })).toEqual([
      "Pulumi.test.yaml: berth:nodes: only for the hetzner and scaleway targets (the local target runs on this machine)",
    ]);
  });

  it("berth:workspaces: names a missing or wrong node, a missing default image and a duplicate", () => {
    const cloud = {
      ...hetzner(),
      "berth:workspaces": JSON.stringify([
        { name: "alice", repository: "https://git.example.com/a.git" },
        { name: "alice", node: "web-1", repository: "https://git.example.com/a.git", defaultImage: "img" },
      ]),
    };
    const p = problems(cloud);
    expect(p).toContain(
      "Pulumi.test.yaml: berth:workspaces[0].node: missing; declare a node with role: workspace",
    );
    expect(p).toContain(
      "Pulumi.test.yaml: berth:workspaces[0].defaultImage: missing: an image the node can pull, started when a repository has no usable devcontainer config",
    );
    expect(p).toContain('Pulumi.test.yaml: berth:workspaces[1].name: "alice" is declared twice');
    expect(p).toContain(
      'Pulumi.test.yaml: berth:workspaces[1].node: "web-1" is not a node of role workspace; declare a node with role: workspace',
    );
    const local = parseStackConfig(
      { ...minimal, "berth:workspaces": JSON.stringify([{ name: "me", repository: "/srv/repo" }]) },
      "P",
    );
    expect(local.workspaces).toEqual([
      {
        name: "me",
        repository: "/srv/repo",
        branch: "main",
        defaultBranch: "main",
        trusted: false,
        allowInitializeCommand: false,
      },
    ]);
  });

  it("berth:workspaces[].gitCredential: names a berth:secrets entry, an https repository", () => {
    const ws = (w: Record<string, unknown>) => JSON.stringify([{ name: "me", ...w }]);
    const ok = parseStackConfig(
      {
        ...minimal,
        "berth:secrets": JSON.stringify({ "repo-token": "t" }),
        "berth:workspaces": ws({
          repository: "https://git.example.com/a.git",
          gitCredential: { secret: "repo-token" },
        }),
      },
      "P",
    );
    expect(ok.workspaces[0]?.gitCredential).toEqual({ secret: "repo-token", username: "x-access-token" });
    expect(
      problems({
        ...minimal,
        "berth:workspaces": ws({ repository: "git@example.com:a.git", gitCredential: { secret: "nope" } }),
      }),
    ).toEqual([
      "Pulumi.test.yaml: berth:workspaces[0].gitCredential.secret: the secret nope is not set (pulumi config set --secret --path 'berth:secrets.nope' TOKEN)",
      'Pulumi.test.yaml: berth:workspaces[0].gitCredential: a token is sent over HTTP(S): the repository must be an https:// URL (got "git@example.com:a.git"); for an SSH URL give a deployKey',
    ]);
  });

  it("berth:workspaces[].gitCredential.deployKey: an Ed25519 key in berth:secrets, an SSH repository, known_hosts lines", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-deploykey-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k")], { timeout: 30_000 });
    const key = readFileSync(join(dir, "k"), "utf8");
    rmSync(dir, { recursive: true, force: true });
    const ws = (w: Record<string, unknown>) => JSON.stringify([{ name: "me", ...w }]);
    const ok = parseStackConfig(
      {
        ...minimal,
        "berth:secrets": JSON.stringify({ "deploy-key": key }),
        "berth:workspaces": ws({
          repository: "git@git.example.com:acme/a.git",
          gitCredential: { deployKey: "deploy-key", knownHosts: "git.example.com ssh-ed25519 AAAA" },
        }),
      },
      "P",
    );
    expect(ok.workspaces[0]?.gitCredential).toMatchObject({ deployKey: "deploy-key" });
    const bad = problems({
      ...minimal,
      "berth:secrets": JSON.stringify({ "deploy-key": "ghp_not-a-key" }),
      "berth:workspaces": ws({
        repository: "https://git.example.com/a.git",
        gitCredential: { deployKey: "deploy-key", knownHosts: "nonsense" },
      }),
    });
    expect(bad).toEqual([
      'Pulumi.test.yaml: berth:workspaces[0].gitCredential: a deploy key is for an SSH repository: ssh://git@host/path.git or git@host:path.git (got "https://git.example.com/a.git")',
      "Pulumi.test.yaml: berth:workspaces[0].gitCredential.deployKey: the secret deploy-key: not a private key in OpenSSH's format (-----BEGIN OPENSSH PRIVATE KEY-----): make one with ssh-keygen -t ed25519 -N ''",
      'Pulumi.test.yaml: berth:workspaces[0].gitCredential.knownHosts: line 1 is not a known_hosts line ("host keytype base64", as ssh-keyscan prints)',
    ]);
    expect(bad.join("\n")).not.toContain("ghp_not-a-key");
    expect(
      problems({
        ...minimal,
        "berth:workspaces": ws({
          repository: "git@h:a.git",
          gitCredential: { secret: "t", deployKey: "k" },
        }),
      }),
    ).toEqual([
      "Pulumi.test.yaml: berth:workspaces[0].gitCredential: give either secret (a token, for an https:// repository) or deployKey (an SSH deploy key)",
    ]);
  });

  it("berth:workspaces[].lifecycle and backup: defaults filled in, backup secrets named in berth:secrets", () => {
    const ws = (w: Record<string, unknown>) =>
      JSON.stringify([{ name: "me", repository: "/srv/repo", ...w }]);
    const target = { endpoint: "https://s3.example.com", bucket: "dev-backups" };
    const ok = parseStackConfig(
      {
        ...minimal,
        "berth:secrets": JSON.stringify({
          "backup-password": "p",
          "backup-access-key-id": "k",
          "backup-secret-access-key": "s",
        }),
        "berth:workspaces": ws({ lifecycle: { idleTimeoutSeconds: 600 }, backup: { target } }),
      },
      "P",
    );
    expect(ok.workspaces[0]?.lifecycle).toEqual({ idleTimeoutSeconds: 600 });
    expect(ok.workspaces[0]?.backup).toMatchObject({
      target: { ...target, region: "auto", prefix: "" },
      schedule: "0 3 * * *",
      restoreOnFirstStart: true,
      secrets: { password: "backup-password" },
    });
    expect(problems({ ...minimal, "berth:workspaces": ws({ backup: { target } }) })).toEqual([
      "Pulumi.test.yaml: berth:workspaces[0].backup.secrets.password: the secret backup-password is not set (pulumi config set --secret --path 'berth:secrets.backup-password' VALUE)",
      "Pulumi.test.yaml: berth:workspaces[0].backup.secrets.accessKeyId: the secret backup-access-key-id is not set (pulumi config set --secret --path 'berth:secrets.backup-access-key-id' VALUE)",
      "Pulumi.test.yaml: berth:workspaces[0].backup.secrets.secretAccessKey: the secret backup-secret-access-key is not set (pulumi config set --secret --path 'berth:secrets.backup-secret-access-key' VALUE)",
    ]);
    expect(
      problems({ ...minimal, "berth:workspaces": ws({ lifecycle: { idleTimeoutSeconds: -1 } }) })[0],
    ).toMatch(/berth:workspaces\[0\]\.lifecycle\.idleTimeoutSeconds/);
  });
});

describe("parseStackConfig: node groups", () => {
  const threeNodes = (all: Record<string, string>) => {
    const [n] = JSON.parse(all["berth:nodes"] ?? "[]") as Record<string, unknown>[];
    return JSON.stringify(["web-1", "web-2", "web-3"].map((id) => ({ ...n, id })));
  };
  const onGroup = (patch: Record<string, unknown> = {}) => {
    const all = hetzner();
    const [e] = JSON.parse(all["berth:environments"] ?? "[]") as Record<string, unknown>[];
    const { node: _node, ...env } = e ?? {};
    return {
      ...all,
      "berth:nodes": threeNodes(all),
      "berth:nodeGroups": JSON.stringify([
        { name: "web", nodes: ["web-1", "web-2", "web-3"], managers: ["web-1"] },
      ]),
      "berth:environments": JSON.stringify([
        { ...env, nodeGroup: "web", volumes: [{ name: "db_data", sizeGb: 20, node: "web-2" }], ...patch },
      ]),
    };
  };

  it("accepts an environment placed on a group; a single node stays the default", () => {
    const c = parseStackConfig(onGroup(), "P");
    expect(c.nodeGroups).toEqual([{ name: "web", nodes: ["web-1", "web-2", "web-3"], managers: ["web-1"] }]);
    expect(c.environments[0]).toMatchObject({
      nodeGroup: "web",
      volumes: [{ name: "db_data", node: "web-2" }],
    });
    expect(c.environments[0]?.node).toBeUndefined();
    expect(parseStackConfig(hetzner(), "P").nodeGroups).toEqual([]);
  });

  it("names the config key and what to do", () => {
    expect(problems(onGroup({ volumes: [{ name: "db_data", sizeGb: 20 }] }))).toEqual([
      'Pulumi.test.yaml: berth:environments[0].volumes[0].node: missing: the node of group "web" that holds the volume\'s disk (its services are pinned there); use one of "web-1", "web-2", "web-3"',
    ]);
    const two = {
      ...onGroup(),
      "berth:nodeGroups": JSON.stringify([
        { name: "web", nodes: ["web-1", "web-2", "web-3"], managers: ["web-1", "web-2"] },
      ]),
    };
    expect(problems(two)).toEqual([
      "Pulumi.test.yaml: berth:nodeGroups[0].managers: 2 managers: list 1 or 3 of the group's nodes (a swarm keeps its quorum with a majority of its managers: 1, or 3 to survive losing one)",
    ]);
    expect(problems(onGroup({ nodeGroup: undefined }))[0]).toBe(
      "Pulumi.test.yaml: berth:environments[0].node: missing; use one of web-1, web-2, web-3 (or nodeGroup: one of web)",
    );
  });

  it("on the local target, node groups of berth:localNodes (each its own Docker Engine on this machine)", () => {
    const env = JSON.stringify([{ name: "demo", compose: "local/app/compose.yaml", nodeGroup: "web" }]);
    expect(
      problems({
        ...minimal,
        "berth:nodeGroups": JSON.stringify([{ name: "web", nodes: ["a"], managers: ["a"] }]),
        "berth:environments": env,
      }),
    ).toEqual([
      'Pulumi.test.yaml: berth:nodeGroups[0].nodes[0]: "a" is not a node; declare it in berth:localNodes or use one of ',
    ]);
    const local = (id: string, httpPort: number) => ({
      id,
      dockerHost: `unix:///run/bed/${id}/docker.sock`,
      address: "172.30.0.2",
      httpPort,
    });
    expect(
      problems({
        ...minimal,
        "berth:localNodes": JSON.stringify([local("a", 18081), local("b", 18081)]),
        "berth:nodeGroups": JSON.stringify([{ name: "web", nodes: ["a", "b"], managers: ["a"] }]),
        "berth:environments": env,
      }),
    ).toEqual([
      "Pulumi.test.yaml: berth:localNodes[1].httpPort: 18081 is also localNodes[0]'s: give each node a port of its own",
    ]);
    const ok = parseStackConfig(
      {
        ...minimal,
        "berth:localNodes": JSON.stringify([local("a", 18081), local("b", 18082)]),
        "berth:nodeGroups": JSON.stringify([{ name: "web", nodes: ["a", "b"], managers: ["a"] }]),
        "berth:environments": env,
      },
      "Pulumi.test.yaml",
    );
    expect(ok.localNodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect(ok.environments[0]?.nodeGroup).toBe("web");
  });
});
