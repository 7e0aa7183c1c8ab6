import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../payload/keys";
import { authorize } from "./authorize";
import { ACCESS_PROTOCOL, actionUnsupported, parseAccessRequest, protocolOf, requestFor } from "./protocol";
import { signAccessToken } from "./token";

const write = { path: "/w/f", mode: 0o644, size: 5 };

describe("requestFor (the CLI writes for the agent's version)", () => {
  it("leaves out what a version 1 agent does not know, `protocol` included", () => {
    expect(requestFor("file-write", write, 1)).toEqual({ path: "/w/f", mode: 0o644 });
  });

  it("keeps every field for an agent of this version, and names the writer's version", () => {
    expect(requestFor("file-write", write, ACCESS_PROTOCOL)).toEqual({ ...write, protocol: ACCESS_PROTOCOL });
    expect(requestFor("file-write", write, ACCESS_PROTOCOL + 5)).toEqual({
      ...write,
      protocol: ACCESS_PROTOCOL,
    });
  });
});

describe("parseAccessRequest (the agent reads by the writer's version)", () => {
  it("ignores, and names, fields of a newer version's request", () => {
    const r = parseAccessRequest("file-write", {
      ...write,
      compression: "zstd",
      protocol: ACCESS_PROTOCOL + 1,
    });
    expect(r).toEqual({ ok: true, request: write, ignored: ["compression"] });
  });

  it("still checks the fields it knows in a newer version's request", () => {
    const r = parseAccessRequest("file-write", { path: "", protocol: ACCESS_PROTOCOL + 1, extra: 1 });
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining("path") });
  });

  it("refuses an unknown field from its own version or an older one (a typo is not a new field)", () => {
    for (const protocol of [undefined, 1, ACCESS_PROTOCOL]) {
      const r = parseAccessRequest("file-write", { ...write, sise: 5, ...(protocol ? { protocol } : {}) });
      expect(r).toMatchObject({ ok: false, reason: expect.stringContaining("sise") });
    }
  });

  it("refuses a protocol that is not a version", () => {
    for (const protocol of [0, -1, 1.5, "2", null])
      expect(parseAccessRequest("file-write", { ...write, protocol })).toMatchObject({
        ok: false,
        reason: expect.stringContaining("protocol"),
      });
  });

  it("reads what every older CLI sent: no protocol, or a version 1 request", () => {
    expect(parseAccessRequest("file-write", { path: "/w/f" })).toMatchObject({ ok: true, ignored: [] });
    expect(parseAccessRequest("file-write", requestFor("file-write", write, 1))).toMatchObject({ ok: true });
  });

  it("reads a version named in a header or a JSON field", () => {
    expect(protocolOf("2")).toBe(2);
    expect(protocolOf(3)).toBe(3);
    for (const v of [undefined, "", "x", "0", 0, 1.5, ["2"]]) expect(protocolOf(v)).toBeUndefined();
  });
});

describe("authorize with a newer CLI's request", () => {
  const alice = generateSigningKeyPair();
  const now = new Date("2026-12-06T08:00:00.000Z");
  const check = (request: Record<string, unknown>) =>
    authorize({
      token: signAccessToken({
        operator: "alice",
        privateKey: alice.privateKey,
        node: "n1",
        target: { kind: "workspace", id: "dev" },
        action: "file-write",
        request,
        now,
      }),
      node: "n1",
      target: { kind: "workspace", id: "dev" },
      action: "file-write",
      policy: {
        commands: false,
        operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: ["dev"] }],
      },
      now,
    });

  it("accepts it with the unknown optional field ignored", () => {
    expect(check({ ...write, preallocate: true, protocol: ACCESS_PROTOCOL + 1 })).toMatchObject({
      ok: true,
      request: write,
      ignored: ["preallocate"],
    });
  });

  it("refuses the same field from a CLI of its own version (MALFORMED)", () => {
    expect(check({ ...write, preallocate: true, protocol: ACCESS_PROTOCOL })).toMatchObject({
      ok: false,
      code: "MALFORMED",
    });
  });
});

describe("actions newer than an agent", () => {
  it("are named with the version they need, so the CLI says so before signing a token", () => {
    expect(actionUnsupported("workspace-restore", 3)).toMatch(
      /speaks access protocol 3; workspace-restore needs 4: upgrade the node's agent/,
    );
    expect(actionUnsupported("workspace-snapshots", ACCESS_PROTOCOL)).toBeUndefined();
    expect(actionUnsupported("shell", 1)).toBeUndefined();
    expect(actionUnsupported("workspace-switch", 4)).toMatch(/workspace-switch needs 5/);
  });
});
