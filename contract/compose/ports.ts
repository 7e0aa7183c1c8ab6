// services.*.ports and expose.
//
// berth never publishes host ports: the container port of each `ports:` entry becomes a route
// hint ({ service, port }) for x-berth-routes and the proxy, and a host port or address written
// there is dropped with a warning. UDP ports and port ranges give no hint (warning).
import type { Path } from "./problem";
import { asText, type Ctx, checkKeys } from "./read";
import { entry, type YNode } from "./tree";

const MAX_EXPOSE_RANGE = 1000;

/** "80", "8000-8010": ports or a range; undefined if malformed. */
function portSpec(s: string): { from: number; to: number } | undefined {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(s.trim());
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) return undefined;
  return { from, to };
}

interface ContainerPort {
  from: number;
  to: number;
  protocol: string;
  host?: string;
}

/** `[[IP:]HOST:]CONTAINER[/PROTO]`, IPv6 addresses in brackets. */
export function parseShortPort(s: string): ContainerPort | undefined {
  let body = s.trim();
  let protocol = "tcp";
  const slash = body.lastIndexOf("/");
  if (slash >= 0) {
    protocol = body.slice(slash + 1).toLowerCase();
    body = body.slice(0, slash);
  }
  const colon = body.lastIndexOf(":");
  const container = colon >= 0 ? body.slice(colon + 1) : body;
  const host = colon >= 0 ? body.slice(0, colon) : undefined;
  const spec = portSpec(container);
  if (!spec || !["tcp", "udp", "sctp"].includes(protocol)) return undefined;
  const out: ContainerPort = { ...spec, protocol };
  if (host !== undefined && host !== "") out.host = host;
  return out;
}

export function readPorts(ctx: Ctx, node: YNode, path: Path): number[] {
  const hints: number[] = [];
  if (node.kind === "scalar" && node.value === null) return hints;
  if (node.kind !== "seq") {
    ctx.problems.error(node.pos, path, "ports must be a list");
    return hints;
  }
  node.items.forEach((it, i) => {
    const p = [...path, i];
    let cp: ContainerPort | undefined;
    if (it.kind === "map") {
      checkKeys(ctx, it, p, {
        accepted: ["target", "published", "host_ip", "protocol", "mode", "app_protocol", "name"],
        what: "port field",
      });
      const t = entry(it, "target");
      if (!t) {
        ctx.problems.error(it.pos, p, "a port needs target: (the container port)");
        return;
      }
      const ts = asText(ctx, t.value, [...p, "target"], "target");
      const spec = ts === undefined ? undefined : portSpec(ts);
      if (!spec) {
        if (ts !== undefined)
          ctx.problems.error(t.value.pos, [...p, "target"], `${JSON.stringify(ts)} is not a port (1-65535)`);
        return;
      }
      const proto = entry(it, "protocol");
      const protocol = proto ? (asText(ctx, proto.value, [...p, "protocol"], "protocol") ?? "tcp") : "tcp";
      cp = { ...spec, protocol };
      const pub = entry(it, "published") ?? entry(it, "host_ip");
      if (pub) cp.host = "published";
    } else {
      const s = asText(ctx, it, p, "a port");
      if (s === undefined) return;
      cp = parseShortPort(s);
      if (!cp) {
        ctx.problems.error(
          it.pos,
          p,
          `${JSON.stringify(s)} is not a port`,
          "write [HOST:]CONTAINER[/tcp], e.g. 8080",
        );
        return;
      }
    }
    const what = cp.from === cp.to ? `container port ${cp.from}` : `container ports ${cp.from}-${cp.to}`;
    if (cp.from !== cp.to || cp.protocol !== "tcp") {
      ctx.problems.warn(
        it.pos,
        p,
        `${what}/${cp.protocol} gives no route hint: berth routes single TCP ports`,
        "berth never publishes host ports; remove the entry or route one TCP port with x-berth-routes",
      );
      return;
    }
    if (cp.host !== undefined) {
      ctx.problems.warn(
        it.pos,
        p,
        `the host port is not published: berth never publishes host ports; ${what} becomes a route hint`,
        "route public traffic to it with x-berth-routes",
      );
    }
    if (!hints.includes(cp.from)) hints.push(cp.from);
  });
  return hints;
}

export function readExpose(ctx: Ctx, node: YNode, path: Path): number[] {
  const out: number[] = [];
  if (node.kind === "scalar" && node.value === null) return out;
  if (node.kind !== "seq") {
    ctx.problems.error(node.pos, path, "expose must be a list of ports");
    return out;
  }
  node.items.forEach((it, i) => {
    const p = [...path, i];
    const s = asText(ctx, it, p, "an exposed port");
    if (s === undefined) return;
    const m = /^([^/]+)(?:\/(tcp|udp|sctp))?$/i.exec(s.trim());
    const spec = m ? portSpec(m[1] ?? "") : undefined;
    if (!spec) {
      ctx.problems.error(
        it.pos,
        p,
        `${JSON.stringify(s)} is not a port`,
        "write a container port (1-65535), e.g. 8080",
      );
      return;
    }
    if (spec.to - spec.from >= MAX_EXPOSE_RANGE) {
      ctx.problems.error(
        it.pos,
        p,
        `the range ${s} is too wide`,
        `expose at most ${MAX_EXPOSE_RANGE} ports per entry`,
      );
      return;
    }
    for (let port = spec.from; port <= spec.to; port++) if (!out.includes(port)) out.push(port);
  });
  return out;
}
