import { describe, expect, it } from "vitest";
import type { Command } from "./metadata-block";
import { blockMetadataService, metadataRuleScript } from "./metadata-block";

const line = (c: Command) => [c.file, ...c.args].join(" ");

describe("the metadata service block", () => {
  it("checks, creates the chain when Docker has not yet, and inserts the rule first in DOCKER-USER", async () => {
    const calls: string[] = [];
    const added = await blockMetadataService(async (c) => {
      calls.push(line(c));
      return { exitCode: c.args.includes("-I") || c.args.includes("-N") ? 0 : 1, stderr: "" };
    });
    expect(added).toBe(true);
    expect(calls).toEqual([
      "iptables -w 5 -C DOCKER-USER -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable",
      "iptables -w 5 -n -L DOCKER-USER",
      "iptables -w 5 -N DOCKER-USER",
      "iptables -w 5 -I DOCKER-USER 1 -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable",
    ]);
    expect(await blockMetadataService(async () => ({ exitCode: 0, stderr: "" }))).toBe(false);
    await expect(
      blockMetadataService(async (c) => ({
        exitCode: c.args.includes("-L") ? 0 : 4,
        stderr: "Permission denied",
      })),
    ).rejects.toThrow(/could not block the metadata service.*Permission denied/);
    expect(metadataRuleScript()).toMatch(/-C DOCKER-USER .* \|\| iptables -w 5 -I DOCKER-USER 1 /);
  });
});
