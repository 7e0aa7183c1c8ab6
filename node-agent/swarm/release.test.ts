import { describe, expect, it } from "vitest";
import { isSwarmStack } from "./release";

describe("isSwarmStack", () => {
  it("is true only when x-berth names a stack, and answers the same when asked again", () => {
    const swarm = "services:\n  web:\n    image: a\nx-berth:\n  stack: shop\n";
    const node = "services:\n  web:\n    image: a\nx-berth:\n  routes: []\n";
    for (let i = 0; i < 3; i++) {
      expect(isSwarmStack(swarm)).toBe(true);
      expect(isSwarmStack(node)).toBe(false);
      expect(isSwarmStack("services: [unclosed")).toBe(false);
    }
    // More texts than it keeps answers for: each still answered from its own text.
    for (let i = 0; i < 40; i++) expect(isSwarmStack(`x-berth:\n  stack: s${i}\n`)).toBe(true);
    expect(isSwarmStack(swarm)).toBe(true);
    expect(isSwarmStack(node)).toBe(false);
  });
});
