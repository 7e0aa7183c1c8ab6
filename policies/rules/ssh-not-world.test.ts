import { describe, expect, it } from "vitest";
import { HCLOUD_FIREWALL, portCovers, sshNotOpenToWorld } from "./ssh-not-world";
import { resourceArgs, violations } from "./testing";

const SG = "scaleway:instance/securityGroup:SecurityGroup";
const SG_RULES = "scaleway:instance/securityGroupRules:SecurityGroupRules";
const check = (type: string, props: Record<string, unknown>) =>
  violations(sshNotOpenToWorld, resourceArgs(type, props, {}, "fw"));

describe("berth-ssh-not-open-to-world", () => {
  it("reads port specs: single, range, any, absent", () => {
    expect(portCovers("22", 22)).toBe(true);
    expect(portCovers("20-30", 22)).toBe(true);
    expect(portCovers("23-30", 22)).toBe(false);
    expect(portCovers("any", 22)).toBe(true);
    expect(portCovers(undefined, 22)).toBe(true);
    expect(portCovers(443, 22)).toBe(false);
  });

  it("flags an hcloud rule opening 22 (or a range over it) to 0.0.0.0/0 or ::/0", async () => {
    const v = await check(HCLOUD_FIREWALL, {
      rules: [
        { direction: "in", protocol: "tcp", port: "443", sourceIps: ["0.0.0.0/0", "::/0"] },
        { direction: "in", protocol: "tcp", port: "20-25", sourceIps: ["203.0.113.4/32", "::/0"] },
      ],
    });
    expect(v).toHaveLength(1);
    expect(v[0]).toContain(
      "firewall 'fw': SSH (22/tcp) is open to the whole internet: rules[1] (port 20-25 from ::/0)",
    );
  });

  it("passes hcloud SSH from listed addresses, UDP 22, outbound rules and no rules", async () => {
    expect(
      await check(HCLOUD_FIREWALL, {
        rules: [
          { direction: "in", protocol: "tcp", port: "80", sourceIps: ["0.0.0.0/0", "::/0"] },
          { direction: "in", protocol: "tcp", port: "22", sourceIps: ["198.51.100.0/24"] },
          { direction: "in", protocol: "udp", port: "22", sourceIps: ["0.0.0.0/0"] },
          { direction: "out", protocol: "tcp", port: "22", destinationIps: ["0.0.0.0/0"] },
        ],
      }),
    ).toEqual([]);
    expect(await check(HCLOUD_FIREWALL, {})).toEqual([]);
  });

  it("flags a Scaleway group accepting 22 from anywhere, or accepting everything by default", async () => {
    const open = await check(SG, {
      inboundDefaultPolicy: "drop",
      inboundRules: [{ action: "accept", protocol: "TCP", port: 22, ipRange: "0.0.0.0/0" }],
    });
    expect(open[0]).toContain("inboundRules[0] accepts 22/tcp from 0.0.0.0/0");
    const noRange = await check(SG, {
      inboundDefaultPolicy: "drop",
      inboundRules: [{ action: "accept", port: 22 }],
    });
    expect(noRange).toHaveLength(1);
    const byDefault = await check(SG, { inboundRules: [{ action: "accept", port: 443 }] });
    expect(byDefault[0]).toContain("inboundDefaultPolicy is not set (Scaleway accepts by default)");
  });

  it("passes a Scaleway group that drops by default or drops SSH first", async () => {
    expect(
      await check(SG, {
        inboundDefaultPolicy: "drop",
        inboundRules: [
          { action: "accept", protocol: "TCP", port: 443, ipRange: "0.0.0.0/0" },
          { action: "accept", protocol: "TCP", port: 22, ipRange: "198.51.100.7/32" },
        ],
      }),
    ).toEqual([]);
    expect(
      await check(SG, {
        inboundDefaultPolicy: "accept",
        inboundRules: [{ action: "drop", protocol: "TCP", portRange: "1-1024", ipRange: "0.0.0.0/0" }],
      }),
    ).toEqual([]);
  });

  it("checks separate Scaleway rule sets without a default policy", async () => {
    expect(
      await check(SG_RULES, { inboundRules: [{ action: "accept", port: 22, ipRange: "::/0" }] }),
    ).toHaveLength(1);
    expect(await check(SG_RULES, { inboundRules: [{ action: "accept", port: 443 }] })).toEqual([]);
  });

  it("ignores other resource types", async () => {
    expect(
      await check("hcloud:index/server:Server", { rules: [{ port: "22", sourceIps: ["0.0.0.0/0"] }] }),
    ).toEqual([]);
  });
});
