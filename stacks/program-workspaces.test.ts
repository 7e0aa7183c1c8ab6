// berth:workspaces in a hetzner stack (mocks): a workspace node next to the deployment node, and
// a Workspace published for it with the namespace's push access, every secret kept secret.
import { describe, expect, it } from "vitest";
import { exampleConfig, runProgram, SECRETS, withTestApp } from "./testdata/program";

describe("berth:workspaces (hetzner, mocks)", () => {
  it("declares a Workspace on the workspace node, with the registry's push access and the signing key as secrets", async () => {
    const base = withTestApp(exampleConfig("Pulumi.hetzner.example.yaml"));
    const nodes = JSON.parse(base["berth:nodes"]!) as Record<string, unknown>[];
    const config = {
      ...base,
      ...SECRETS,
      "berth:nodes": JSON.stringify([
        ...nodes,
        { id: "dev-1", provider: "hcloud", role: "workspace", serverType: "cx32", location: "nbg1" },
      ]),
      "berth:workspaces": JSON.stringify([
        {
          name: "alice",
          node: "dev-1",
          repository: "https://git.example.com/acme/shop.git",
          branch: "feature/cart",
          trusted: true,
          defaultImage: "ghcr.io/acme/dev-base:1",
        },
      ]),
    };
    const run = await runProgram("hetzner", config, Object.keys(SECRETS));
    const ws = run.created.filter((r) => r.type === "berth:index:Workspace").map((r) => r.name);
    expect(ws).toEqual(["alice"]);
    const decl = run.created.find((r) => r.name === "alice-declaration")!;
    expect(decl.inputs).toMatchObject({
      berthKind: "workspace",
      workspaceId: "alice",
      nodeId: "dev-1",
      repositoryName: "acme/shop",
      branch: "feature/cart",
      trusted: true,
      defaultImage: "ghcr.io/acme/dev-base:1",
    });
    expect((decl.inputs.registry as { namespace: string }).namespace).toMatch(/^registry\.cloudflare\.com\//);
    expect(decl.secretInputs).toEqual(expect.arrayContaining(["channel", "registry", "signingKey"]));
  }, 30_000);

  it("publishes the stargz tools for the workspace nodes' CPUs only, and none without a workspace node", async () => {
    const base = withTestApp(exampleConfig("Pulumi.hetzner.example.yaml"));
    const nodes = JSON.parse(base["berth:nodes"]!) as Record<string, unknown>[];
    const withNodes = (extra: Record<string, unknown>[]) =>
      runProgram(
        "hetzner",
        { ...base, ...SECRETS, "berth:nodes": JSON.stringify([...nodes, ...extra]) },
        Object.keys(SECRETS),
      );
    const tools = (run: Awaited<ReturnType<typeof withNodes>>) =>
      run.created.filter((r) => r.inputs.berthKind === "stargz-tools");
    const dev = (id: string, serverType: string) => ({
      id,
      provider: "hcloud",
      role: "workspace",
      serverType,
      location: "nbg1",
    });
    // An Arm (CAX) workspace node beside an x86 one: both CPUs' files, signed, as secrets.
    const mixed = tools(await withNodes([dev("dev-1", "cx32"), dev("dev-2", "cax21")]));
    expect(mixed.map((r) => r.name)).toEqual(["channel-stargz-tools"]);
    const files = mixed[0]?.inputs.files as { name: string; arch: string; sha256: string }[];
    expect(files.map((f) => `${f.arch}/${f.name}`)).toEqual([
      "amd64/berth-stargz-snapshotter",
      "amd64/berth-estargz",
      "arm64/berth-stargz-snapshotter",
      "arm64/berth-estargz",
    ]);
    expect(mixed[0]?.secretInputs).toEqual(expect.arrayContaining(["channel", "signingKey"]));
    const arm = tools(await withNodes([dev("dev-2", "cax21")]))[0]?.inputs.files as { arch: string }[];
    expect(new Set(arm.map((f) => f.arch))).toEqual(new Set(["arm64"]));
    // Deployment nodes only: nothing to publish, and their user data fetches nothing.
    expect(tools(await withNodes([]))).toEqual([]);
  }, 60_000);
});
