// Top-level volumes:, networks:, include: and the keys berth refuses there.
import { NAME_PATTERN } from "../manifest/patterns";
import type { Network, Volume } from "../manifest/schema";
import { readLabels } from "./labels";
import type { Path } from "./problem";
import { asBool, asOptionalMap, type Ctx, checkKeys, type Rejection, setKey } from "./read";
import { entry, type YEntry, type YNode } from "./tree";

function checkName(ctx: Ctx, e: YEntry, path: Path, what: string): boolean {
  if (NAME_PATTERN.test(e.key) && e.key.length <= 128) return true;
  ctx.problems.error(
    e.keyPos,
    [...path, e.key],
    `${JSON.stringify(e.key)} is not a valid ${what} name`,
    "use letters, digits, '.', '_' or '-', starting with a letter or digit",
  );
  return false;
}

const EXTERNAL = (what: string): Rejection => ({
  message: `external ${what}s are not allowed: a release only uses ${what}s berth creates for its environment`,
  hint:
    what === "volume"
      ? "remove external:; declare the volume here and berth creates it on the environment's storage"
      : "remove external:; berth creates the network for the environment",
});

export function readVolumes(ctx: Ctx, node: YNode, path: Path): Record<string, Volume> {
  const out: Record<string, Volume> = {};
  const map = asOptionalMap(ctx, node, path, "volumes");
  if (!map) return out;
  for (const e of map.entries) {
    const p = [...path, e.key];
    if (!checkName(ctx, e, path, "volume")) continue;
    const v = asOptionalMap(ctx, e.value, p, `volume ${e.key}`);
    if (!v) continue;
    checkKeys(ctx, v, p, {
      accepted: ["driver", "labels"],
      berthExtensions: ["x-berth-backup"],
      rejected: {
        external: EXTERNAL("volume"),
        driver_opts: {
          message: "driver_opts are not allowed: they can turn a volume into a bind mount or a network mount",
          hint: "remove driver_opts:; berth stores the volume on the environment's disk",
        },
        name: {
          message: "a volume name: is not allowed: berth names volumes per environment",
          hint: "remove name:; refer to the volume by its key",
        },
      },
      what: "volume field",
    });
    const d = entry(v, "driver");
    if (d) {
      const dv = d.value.kind === "scalar" ? d.value.value : undefined;
      if (dv !== "local") {
        ctx.problems.error(
          d.value.pos,
          [...p, "driver"],
          `volume driver ${JSON.stringify(dv ?? null)} is not allowed: only the local driver`,
          "remove driver: (or write driver: local); berth provides the storage",
        );
      }
    }
    const l = entry(v, "labels");
    setKey(out, e.key, { labels: l ? readLabels(ctx, l.value, [...p, "labels"]) : {} });
  }
  return out;
}

const IPAM = {
  message: "ipam (static subnets and addresses) is not allowed: Docker assigns addresses on berth's networks",
  hint: "remove ipam:",
};

export function readNetworks(ctx: Ctx, node: YNode, path: Path): Record<string, Network> {
  const out: Record<string, Network> = {};
  const map = asOptionalMap(ctx, node, path, "networks");
  if (!map) return out;
  for (const e of map.entries) {
    const p = [...path, e.key];
    if (!checkName(ctx, e, path, "network")) continue;
    const v = asOptionalMap(ctx, e.value, p, `network ${e.key}`);
    if (!v) continue;
    checkKeys(ctx, v, p, {
      accepted: ["driver", "labels", "internal"],
      rejected: {
        external: EXTERNAL("network"),
        ipam: IPAM,
        driver_opts: { message: "network driver_opts are not allowed", hint: "remove driver_opts:" },
        name: {
          message: "a network name: is not allowed: berth names networks per environment",
          hint: "remove name:; refer to the network by its key",
        },
        attachable: { message: "attachable is not supported", hint: "remove attachable:" },
        enable_ipv6: { message: "enable_ipv6 is not supported", hint: "remove enable_ipv6:" },
        enable_ipv4: { message: "enable_ipv4 is not supported", hint: "remove enable_ipv4:" },
      },
      what: "network field",
    });
    const d = entry(v, "driver");
    if (d) {
      const dv = d.value.kind === "scalar" ? d.value.value : undefined;
      if (dv !== "bridge") {
        ctx.problems.error(
          d.value.pos,
          [...p, "driver"],
          `network driver ${JSON.stringify(dv ?? null)} is not allowed: only user-defined bridge networks`,
          "remove driver: (or write driver: bridge)",
        );
      }
    }
    const l = entry(v, "labels");
    const i = entry(v, "internal");
    setKey(out, e.key, {
      labels: l ? readLabels(ctx, l.value, [...p, "labels"]) : {},
      internal: i ? (asBool(ctx, i.value, [...p, "internal"], "internal") ?? false) : false,
    });
  }
  return out;
}
