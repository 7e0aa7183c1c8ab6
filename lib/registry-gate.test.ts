import { describe, expect, it } from "vitest";
import { basicUser, gateDecision } from "./registry-gate";

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
const push = new Set(["berth"]);

describe("the registry gate", () => {
  it("lets anyone the registry accepts read, and only push users write", () => {
    expect(basicUser(basic("berth-pull", "a:b"))).toBe("berth-pull");
    expect(basicUser("Bearer x")).toBeUndefined();
    for (const m of ["GET", "HEAD"]) expect(gateDecision(m, basic("berth-pull", "p"), push).pass).toBe(true);
    for (const m of ["POST", "PUT", "PATCH", "DELETE"]) {
      const d = gateDecision(m, basic("berth-pull", "p"), push);
      expect(d).toEqual({
        pass: false,
        status: 403,
        message: expect.stringMatching(/user berth-pull may only pull/),
      });
      expect(gateDecision(m, basic("berth", "p"), push).pass).toBe(true);
      expect(gateDecision(m, "Bearer token", push).pass).toBe(false);
    }
    // No credentials: the registry answers with its challenge.
    expect(gateDecision("POST", undefined, push).pass).toBe(true);
  });
});
