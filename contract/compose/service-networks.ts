// services.*.networks: a list of names, or a map of name → { aliases }. Static addresses are
// refused. A service that lists none joins `default`.
import type { Path } from "./problem";
import { asTextList, type Ctx, checkKeys, setKey } from "./read";
import type { YNode } from "./tree";

export type ServiceNetworks = Record<string, { aliases: string[] }>;

const STATIC_IP = {
  message: "static IP addresses are not allowed: Docker assigns addresses on berth's networks",
  hint: "remove it; reach the service by its name or a network alias",
};

function check(ctx: Ctx, declared: ReadonlySet<string>, name: string, node: YNode, path: Path): boolean {
  if (name === "default" || declared.has(name)) return true;
  ctx.problems.error(
    node.pos,
    path,
    `network ${name} is not declared under top-level networks:`,
    `add it: networks: { ${name}: {} } at the top level`,
  );
  return false;
}

export function readServiceNetworks(
  ctx: Ctx,
  node: YNode,
  path: Path,
  declared: ReadonlySet<string>,
): ServiceNetworks {
  const out: ServiceNetworks = {};
  if (node.kind === "seq") {
    node.items.forEach((it, i) => {
      const p = [...path, i];
      if (it.kind !== "scalar" || typeof it.value !== "string") {
        ctx.problems.error(it.pos, p, "a network must be a name");
        return;
      }
      if (check(ctx, declared, it.value, it, p))
        setKey<{ aliases: string[] }>(out, it.value, { aliases: [] });
    });
    return out;
  }
  if (node.kind === "map") {
    for (const e of node.entries) {
      const p = [...path, e.key];
      if (!check(ctx, declared, e.key, e.value, p)) continue;
      const v = e.value;
      if (v.kind === "scalar" && v.value === null) {
        setKey<{ aliases: string[] }>(out, e.key, { aliases: [] });
        continue;
      }
      if (v.kind !== "map") {
        ctx.problems.error(v.pos, p, "network options must be a mapping (aliases:)");
        continue;
      }
      checkKeys(ctx, v, p, {
        accepted: ["aliases"],
        rejected: {
          ipv4_address: STATIC_IP,
          ipv6_address: STATIC_IP,
          link_local_ips: STATIC_IP,
          mac_address: { message: "mac_address is not supported", hint: "remove it" },
        },
        known: ["priority", "gw_priority", "driver_opts", "interface_name"],
        what: "network option",
      });
      const a = v.entries.find((x) => x.key === "aliases");
      const aliases = a ? asTextList(ctx, a.value, [...p, "aliases"], "aliases") : [];
      setKey(out, e.key, { aliases: aliases ?? [] });
    }
    return out;
  }
  if (!(node.kind === "scalar" && node.value === null)) {
    ctx.problems.error(node.pos, path, "networks must be a list of names or a mapping");
  }
  return out;
}
