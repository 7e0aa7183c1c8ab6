import { describe, expect, it } from "vitest";
import { generateSigningKeyPair } from "../payload/keys";
import { authorize } from "./authorize";
import type { AccessAction, AccessTarget, TargetPolicy } from "./schema";
import { decodeAccessToken, encodeAccessToken, signAccessToken, TokenFormatError } from "./token";

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const now = new Date("2026-12-06T08:00:00.000Z");
const app: AccessTarget = { kind: "environment", id: "app" };
const ws: AccessTarget = { kind: "workspace", id: "dev" };
const policy = (commands = false): TargetPolicy => ({
  commands,
  operators: [
    { name: "alice", publicKey: alice.publicKey, environments: ["app"], workspaces: ["dev"] },
    { name: "bob", publicKey: bob.publicKey, environments: [], workspaces: ["other"] },
  ],
});

function token(o: {
  who?: "alice" | "bob";
  target?: AccessTarget;
  action?: AccessAction;
  request?: Record<string, unknown>;
  at?: Date;
  lifetime?: number;
  node?: string;
}) {
  const who = o.who ?? "alice";
  return signAccessToken({
    operator: who,
    privateKey: (who === "alice" ? alice : bob).privateKey,
    node: o.node ?? "n1",
    target: o.target ?? app,
    action: o.action ?? "logs",
    request: o.request ?? {},
    now: o.at ?? now,
    ...(o.lifetime ? { lifetimeSeconds: o.lifetime } : {}),
  });
}

const check = (t: ReturnType<typeof token>, over: Partial<Parameters<typeof authorize>[0]> = {}) =>
  authorize({
    token: t,
    node: "n1",
    target: t.payload.target,
    action: t.payload.action,
    policy: policy(),
    now,
    ...over,
  });

describe("authorize", () => {
  it("accepts a granted operator's fresh token and returns its parsed request", () => {
    const d = check(token({ request: { service: "web", follow: true } }));
    expect(d).toMatchObject({
      ok: true,
      operator: { name: "alice" },
      request: { service: "web", follow: true },
    });
  });

  it("round-trips through the Authorization header", () => {
    const t = token({});
    expect(decodeAccessToken(encodeAccessToken(t))).toEqual(t);
    expect(() => decodeAccessToken("Bearer x")).toThrow(TokenFormatError);
    expect(() => decodeAccessToken(undefined)).toThrow(/no Authorization header/);
  });

  const refusals: [string, () => ReturnType<typeof check>, string][] = [
    ["expired", () => check(token({ at: new Date(now.getTime() - 120_000) })), "EXPIRED"],
    ["issued in the future", () => check(token({ at: new Date(now.getTime() + 120_000) })), "NOT_YET_VALID"],
    ["too long-lived", () => check(token({ lifetime: 3600 })), "TOO_LONG_LIVED"],
    ["for another node", () => check(token({ node: "n2" })), "WRONG_NODE"],
    [
      "for another workspace",
      () => check(token({ target: ws, action: "shell" }), { target: { kind: "workspace", id: "other" } }),
      "WRONG_TARGET",
    ],
    ["for another action", () => check(token({}), { action: "exec" }), "WRONG_ACTION"],
    ["an action of the other target kind", () => check(token({ action: "shell" })), "WRONG_ACTION"],
    ["an operator without the grant", () => check(token({ who: "bob" })), "NO_GRANT"],
    [
      "a command where commands are off",
      () => check(token({ action: "exec", request: { service: "web", command: ["ls"] } })),
      "COMMANDS_OFF",
    ],
    ["a target the node does not hold", () => check(token({}), { policy: undefined }), "NO_SUCH_TARGET"],
    [
      "an undeclared operator",
      () => check(token({}), { policy: { commands: false, operators: policy().operators.slice(1) } }),
      "UNKNOWN_OPERATOR",
    ],
    ["a bad request", () => check(token({ request: { service: "../x" } })), "MALFORMED"],
  ];
  for (const [what, run, code] of refusals) {
    it(`refuses ${what} (${code})`, () => {
      const d = run();
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.code).toBe(code);
    });
  }

  it("refuses a token whose payload was changed after signing (BAD_SIGNATURE)", () => {
    const t = token({ action: "exec", request: { service: "web", command: ["ls"] } });
    const forged = {
      ...t,
      payload: { ...t.payload, request: { service: "web", command: ["rm", "-rf", "/"] } },
    };
    const d = check(forged, { policy: policy(true) });
    expect(d).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    expect(check(t, { policy: policy(true) }).ok).toBe(true);
  });

  it("refuses a token signed by another key under a declared name (UNKNOWN_OPERATOR)", () => {
    const t = signAccessToken({
      operator: "alice",
      privateKey: bob.privateKey,
      node: "n1",
      target: app,
      action: "logs",
      request: {},
      now,
    });
    expect(check(t)).toMatchObject({ ok: false, code: "UNKNOWN_OPERATOR" });
  });

  it("lets commands through when the node has them on", () => {
    expect(
      check(token({ action: "run", request: { service: "web", command: ["true"] } }), {
        policy: policy(true),
      }).ok,
    ).toBe(true);
  });
});
