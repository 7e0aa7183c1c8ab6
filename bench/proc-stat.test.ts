import { describe, expect, it } from "vitest";
import { parseProcStat } from "./proc-stat";

describe("parseProcStat", () => {
  it("counts the fields from the command's closing parenthesis (a command may hold spaces and parentheses)", () => {
    const line =
      "4242 (node (agent) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 11 0 900 1000 2000\n";
    expect(parseProcStat(line)).toEqual({ comm: "node (agent) x", ppid: 17, own: 3, reaped: 0.5 });
  });
});
