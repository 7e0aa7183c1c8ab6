// Advisory: a node bigger than the team's ceiling (policy config maxVcpus, maxMemoryGb) is
// probably a typo or a forgotten experiment, and a bill. Sizes of the providers' server types
// are known here; a type not listed can be described in the config (`sizes`).
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { known } from "./berth-resources";

export interface NodeSize {
  vcpus: number;
  memoryGb: number;
}

export interface NodeSizeConfig {
  maxVcpus: number;
  maxMemoryGb: number;
  /** Server types this table does not know, by name (lowercase). */
  sizes?: Record<string, NodeSize>;
}

const s = (vcpus: number, memoryGb: number): NodeSize => ({ vcpus, memoryGb });

/** Hetzner Cloud and Scaleway Instances server types (lowercase names). */
export const KNOWN_SIZES: Record<string, NodeSize> = {
  cx11: s(1, 2),
  cx21: s(2, 4),
  cx31: s(2, 8),
  cx41: s(4, 16),
  cx51: s(8, 32),
  cx22: s(2, 4),
  cx32: s(4, 8),
  cx42: s(8, 16),
  cx52: s(16, 32),
  cx23: s(2, 4),
  cx33: s(4, 8),
  cx43: s(8, 16),
  cx53: s(16, 32),
  cpx11: s(2, 2),
  cpx21: s(3, 4),
  cpx31: s(4, 8),
  cpx41: s(8, 16),
  cpx51: s(16, 32),
  cpx12: s(1, 2),
  cpx22: s(2, 4),
  cpx32: s(4, 8),
  cpx42: s(8, 16),
  cpx52: s(12, 24),
  cpx62: s(16, 32),
  cax11: s(2, 4),
  cax21: s(4, 8),
  cax31: s(8, 16),
  cax41: s(16, 32),
  ccx13: s(2, 8),
  ccx23: s(4, 16),
  ccx33: s(8, 32),
  ccx43: s(16, 64),
  ccx53: s(32, 128),
  ccx63: s(48, 192),
  "stardust1-s": s(1, 1),
  "dev1-s": s(2, 2),
  "dev1-m": s(3, 4),
  "dev1-l": s(4, 8),
  "dev1-xl": s(4, 12),
  "play2-pico": s(1, 2),
  "play2-nano": s(2, 4),
  "play2-micro": s(4, 8),
  "pro2-xxs": s(2, 8),
  "pro2-xs": s(4, 16),
  "pro2-s": s(8, 32),
  "pro2-m": s(16, 64),
  "pro2-l": s(32, 128),
  "gp1-xs": s(4, 16),
  "gp1-s": s(8, 32),
  "gp1-m": s(16, 64),
  "gp1-l": s(32, 128),
  "gp1-xl": s(48, 256),
  "pop2-2c-8g": s(2, 8),
  "pop2-4c-16g": s(4, 16),
  "pop2-8c-32g": s(8, 32),
  "pop2-16c-64g": s(16, 64),
  "pop2-32c-128g": s(32, 128),
  "pop2-64c-256g": s(64, 256),
};

export const DEFAULT_CEILING: NodeSizeConfig = { maxVcpus: 8, maxMemoryGb: 32 };

/** The server type property of each provider's server resource. */
export const SERVER_TYPE_PROPERTY: Record<string, string> = {
  "hcloud:index/server:Server": "serverType",
  "scaleway:instance/server:Server": "type",
  "scaleway:index/instanceServer:InstanceServer": "type",
};

export function sizeProblem(serverType: string, config: NodeSizeConfig): string | undefined {
  const name = serverType.toLowerCase();
  const size = config.sizes?.[name] ?? KNOWN_SIZES[name];
  if (!size) {
    return `server type ${serverType} is not in berth's size table: describe it in the policy config (sizes.${name}: { vcpus, memoryGb }) so the ceiling can be checked`;
  }
  if (size.vcpus > config.maxVcpus || size.memoryGb > config.maxMemoryGb) {
    return `server type ${serverType} (${size.vcpus} vCPU, ${size.memoryGb} GB) is above the ceiling of ${config.maxVcpus} vCPU, ${config.maxMemoryGb} GB: pick a smaller type, or raise maxVcpus/maxMemoryGb in the policy config`;
  }
  return undefined;
}

export const nodeSizeCeiling: ResourceValidationPolicy = {
  name: "berth-node-size-ceiling",
  description: "A node's server type stays within the configured ceiling (maxVcpus, maxMemoryGb).",
  enforcementLevel: "advisory",
  configSchema: {
    properties: {
      maxVcpus: { type: "number", default: DEFAULT_CEILING.maxVcpus },
      maxMemoryGb: { type: "number", default: DEFAULT_CEILING.maxMemoryGb },
      sizes: {
        type: "object",
        additionalProperties: {
          type: "object",
          properties: { vcpus: { type: "number" }, memoryGb: { type: "number" } },
          required: ["vcpus", "memoryGb"],
        },
      },
    },
  },
  validateResource: (args, reportViolation) => {
    const property = SERVER_TYPE_PROPERTY[args.type];
    if (!property) return;
    const serverType = known(() => args.props[property]);
    if (typeof serverType !== "string") return;
    const config = { ...DEFAULT_CEILING, ...args.getConfig<Partial<NodeSizeConfig>>() };
    const problem = sizeProblem(serverType, config);
    if (problem) reportViolation(`node '${args.name}': ${problem}`);
  },
};
