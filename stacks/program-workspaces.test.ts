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
});
