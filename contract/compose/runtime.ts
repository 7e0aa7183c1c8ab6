// The harmless service fields, passed through with Compose's meaning: each stays inside the
// container's own namespaces (its init, user, file system, limits, name and resolver), so a
// shared node can run it. Legacy resource keys map to deploy.resources as Compose maps them;
// pull_policy is a note (images are pinned); platform must be the node's.
import { isIP } from "node:net";
import type { Resources, Service } from "../manifest/schema";
import type { Path } from "./problem";
import { asBool, asMap, asText, asTextList, type Ctx, checkKeys, listOrDict } from "./read";
import { describe, entry, type YMap, type YNode } from "./tree";
import { parseBytes } from "./units";

/** The runtime fields the renderer writes as they are, in Compose's spelling (the node allows exactly these). */
export const RENDERED_RUNTIME_FIELDS = [
  "init",
  "user",
  "working_dir",
  "read_only",
  "tmpfs",
  "shm_size",
  "ulimits",
  "cap_drop",
  "stdin_open",
  "tty",
  "hostname",
  "domainname",
  "extra_hosts",
  "dns",
  "dns_search",
  "dns_opt",
  "group_add",
  "logging",
  "platform",
] as const;

/** Read but not rendered as such: legacy resource keys become deploy.resources; pull_policy is a note. */
const MAPPED_RUNTIME_FIELDS = ["mem_limit", "mem_reservation", "cpus", "pids_limit", "pull_policy"] as const;

/** The fields this file reads (service.ts accepts them). */
export const RUNTIME_FIELDS = [...RENDERED_RUNTIME_FIELDS, ...MAPPED_RUNTIME_FIELDS] as const;

/** The platform a node runs when none is given. */
export const DEFAULT_PLATFORM = "linux/amd64";

const ULIMITS = [
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
];

const HOST_LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

function isHostName(s: string): boolean {
  return s.length <= 253 && s.split(".").every((l) => HOST_LABEL.test(l));
}

/** `linux/x86_64` → `linux/amd64`, `linux/aarch64` and `linux/arm64/v8` → `linux/arm64`. */
export function normalizePlatform(p: string): string {
  const [os = "", arch = "", variant] = p.toLowerCase().split("/");
  const a = arch === "x86_64" || arch === "x86-64" ? "amd64" : arch === "aarch64" ? "arm64" : arch;
  const v = a === "arm64" && variant === "v8" ? undefined : variant;
  return [os, a, ...(v ? [v] : [])].join("/");
}

/** A string, or a list of strings (Compose's `string_or_list`). */
function stringOrList(ctx: Ctx, node: YNode, path: Path, what: string): string[] | undefined {
  if (node.kind === "seq") return asTextList(ctx, node, path, what);
  const s = asText(ctx, node, path, what);
  return s === undefined ? undefined : [s];
}

function wholeNumber(node: YNode): number | undefined {
  if (node.kind !== "scalar") return undefined;
  if (typeof node.value === "number" && Number.isInteger(node.value)) return node.value;
  if (typeof node.value === "string" && /^-?[0-9]{1,18}$/.test(node.value.trim())) return Number(node.value);
  return undefined;
}

function bytesOf(ctx: Ctx, node: YNode, path: Path, what: string): number | undefined {
  const raw =
    node.kind === "scalar" && (typeof node.value === "string" || typeof node.value === "number")
      ? node.value
      : undefined;
  const r = raw === undefined ? undefined : parseBytes(raw);
  if (!r?.ok) {
    ctx.problems.error(node.pos, path, `${what} must be a size like 64m or 1g${r ? `: ${r.message}` : ""}`);
    return undefined;
  }
  return r.bytes;
}

function readUlimits(ctx: Ctx, node: YNode, path: Path): Service["ulimits"] {
  const map = asMap(ctx, node, path, "ulimits");
  if (!map) return undefined;
  const out: NonNullable<Service["ulimits"]> = {};
  for (const e of map.entries) {
    const p = [...path, e.key];
    if (!ULIMITS.includes(e.key)) {
      ctx.problems.error(
        e.keyPos,
        p,
        `unknown ulimit ${JSON.stringify(e.key)}`,
        `use one of ${ULIMITS.join(", ")}`,
      );
      continue;
    }
    const single = wholeNumber(e.value);
    if (single !== undefined) {
      out[e.key] = { soft: single, hard: single };
      continue;
    }
    if (e.value.kind !== "map") {
      ctx.problems.error(
        e.value.pos,
        p,
        `ulimit ${e.key} must be a number or { soft, hard }, got ${describe(e.value)}`,
      );
      continue;
    }
    checkKeys(ctx, e.value, p, { accepted: ["soft", "hard"], what: "ulimit field" });
    const soft = entry(e.value, "soft");
    const hard = entry(e.value, "hard");
    const s = soft ? wholeNumber(soft.value) : undefined;
    const h = hard ? wholeNumber(hard.value) : undefined;
    if (s === undefined || h === undefined) {
      ctx.problems.error(
        e.value.pos,
        p,
        `ulimit ${e.key} needs whole numbers soft: and hard:`,
        "e.g. nofile: { soft: 20000, hard: 40000 }",
      );
      continue;
    }
    if (s > h) {
      ctx.problems.error(
        e.value.pos,
        p,
        `ulimit ${e.key}: soft (${s}) is above hard (${h})`,
        "make soft at most hard",
      );
      continue;
    }
    out[e.key] = { soft: s, hard: h };
  }
  return out;
}

function readExtraHosts(ctx: Ctx, node: YNode, path: Path): string[] | undefined {
  const pairs: { host: string; ip: string; node: YNode; path: Path }[] = [];
  if (node.kind === "map") {
    for (const e of node.entries) {
      const ips = e.value.kind === "seq" ? e.value.items : [e.value];
      ips.forEach((ipNode, i) => {
        const p = e.value.kind === "seq" ? [...path, e.key, i] : [...path, e.key];
        const ip = asText(ctx, ipNode, p, "an extra_hosts address");
        if (ip !== undefined) pairs.push({ host: e.key, ip, node: ipNode, path: p });
      });
    }
  } else {
    const list = stringOrList(ctx, node, path, "extra_hosts");
    if (!list) return undefined;
    const items = node.kind === "seq" ? node.items : [node];
    list.forEach((s, i) => {
      const p = node.kind === "seq" ? [...path, i] : path;
      const n = items[i] ?? node;
      // Compose splits on the first `=`, else on the first `:` (an IPv6 address keeps its colons).
      const eq = s.indexOf("=");
      const at = eq >= 0 ? eq : s.indexOf(":");
      if (at <= 0) {
        ctx.problems.error(
          n.pos,
          p,
          `extra_hosts entry ${JSON.stringify(s)} is not HOST=IP`,
          "write it as HOST=IP, e.g. db.internal=10.0.0.5",
        );
        return;
      }
      pairs.push({ host: s.slice(0, at), ip: s.slice(at + 1), node: n, path: p });
    });
  }
  const out: string[] = [];
  for (const { host, ip, node: n, path: p } of pairs) {
    const bare = ip.replace(/^\[(.*)\]$/, "$1");
    if (bare === "host-gateway") {
      ctx.problems.error(
        n.pos,
        p,
        `extra_hosts ${host}=host-gateway is not allowed: it points the container at the node itself, and berth offers apps nothing on the node`,
        "run what the app needs as a service of this environment and reach it by its service name",
      );
      continue;
    }
    if (!isHostName(host)) {
      ctx.problems.error(n.pos, p, `extra_hosts: ${JSON.stringify(host)} is not a host name`);
      continue;
    }
    if (isIP(bare) === 0) {
      ctx.problems.error(
        n.pos,
        p,
        `extra_hosts: ${JSON.stringify(ip)} is not an IP address`,
        "write HOST=IP with an IPv4 or IPv6 address",
      );
      continue;
    }
    out.push(`${host}=${bare}`);
  }
  return out;
}

const LOG_OPTIONS: Record<string, readonly string[]> = {
  "json-file": ["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"],
  local: ["max-size", "max-file", "compress"],
};
/** A container's logs may take at most this much of the node's disk (max-size × max-file). */
export const MAX_LOG_BYTES = 1024 * 1024 * 1024;

function readLogging(ctx: Ctx, node: YNode, path: Path): Service["logging"] {
  const map = asMap(ctx, node, path, "logging");
  if (!map) return undefined;
  checkKeys(ctx, map, path, { accepted: ["driver", "options"], what: "logging field" });
  const d = entry(map, "driver");
  const driver = d ? asText(ctx, d.value, [...path, "driver"], "logging driver") : "json-file";
  if (driver === undefined) return undefined;
  if (driver !== "json-file" && driver !== "local") {
    ctx.problems.error(
      d?.value.pos ?? map.pos,
      [...path, "driver"],
      `logging driver ${JSON.stringify(driver)} is not allowed: it sends the container's logs off the node or to the node's own daemons, which other environments share`,
      "use driver: json-file or local, and ship logs from the node (berth logs and the agent read them there)",
    );
    return undefined;
  }
  const options: Record<string, string> = {};
  const o = entry(map, "options");
  const op = [...path, "options"];
  for (const kv of (o ? listOrDict(ctx, o.value, op, "logging options") : []) ?? []) {
    const allowed = LOG_OPTIONS[driver] ?? [];
    if (!allowed.includes(kv.key)) {
      ctx.problems.error(
        kv.pos,
        kv.path,
        `logging option ${kv.key} is not one of the ${driver} driver's`,
        `use ${allowed.join(", ")}`,
      );
      continue;
    }
    if (kv.value !== null) options[kv.key] = kv.value;
  }
  const size = options["max-size"];
  const sizeBytes = size === undefined ? undefined : parseBytes(size);
  if (sizeBytes && !sizeBytes.ok) {
    ctx.problems.error(
      map.pos,
      [...op, "max-size"],
      `max-size ${JSON.stringify(size)} is not a size`,
      "e.g. 10m",
    );
    return undefined;
  }
  const files = options["max-file"];
  if (files !== undefined && !/^[1-9][0-9]{0,3}$/.test(files)) {
    ctx.problems.error(
      map.pos,
      [...op, "max-file"],
      `max-file ${JSON.stringify(files)} must be a whole number from 1`,
    );
    return undefined;
  }
  if (size === "-1" || size === "0") {
    ctx.problems.error(
      map.pos,
      [...op, "max-size"],
      "logs without a size limit could fill the node's disk",
      "give max-size, e.g. 10m",
    );
    return undefined;
  }
  const total =
    (sizeBytes?.ok ? sizeBytes.bytes : 10 * 1024 * 1024) * Number(files ?? (driver === "local" ? 5 : 3));
  if (total > MAX_LOG_BYTES) {
    ctx.problems.error(
      map.pos,
      op,
      `the logs could take ${total} bytes of the node's disk (max-size × max-file); the bound is ${MAX_LOG_BYTES} (1 GiB)`,
      "lower max-size or max-file",
    );
    return undefined;
  }
  return { driver, options };
}

/** Legacy resource keys, mapped to deploy.resources as compose-go maps them. */
function legacyResources(ctx: Ctx, map: YMap, path: Path, resources: Resources): void {
  const setLimit = (
    key: string,
    section: "limits" | "reservations",
    field: "memory" | "cpus" | "pids",
    value: number,
    pos: YNode["pos"],
  ) => {
    resources[section] ??= {};
    const into = resources[section] as Record<string, number | undefined>;
    const given = into[field];
    if (given !== undefined && given !== value) {
      ctx.problems.error(
        pos,
        [...path, key],
        `${key} (${value}) and deploy.resources.${section}.${field} (${given}) disagree`,
        `keep one of them; Compose refuses distinct values too`,
      );
      return;
    }
    into[field] = value;
  };
  const mem = entry(map, "mem_limit");
  if (mem) {
    const b = bytesOf(ctx, mem.value, [...path, "mem_limit"], "mem_limit");
    if (b !== undefined) setLimit("mem_limit", "limits", "memory", b, mem.value.pos);
  }
  const res = entry(map, "mem_reservation");
  if (res) {
    const b = bytesOf(ctx, res.value, [...path, "mem_reservation"], "mem_reservation");
    if (b !== undefined) setLimit("mem_reservation", "reservations", "memory", b, res.value.pos);
  }
  const cpus = entry(map, "cpus");
  if (cpus) {
    const v =
      cpus.value.kind === "scalar" &&
      (typeof cpus.value.value === "number" ||
        (typeof cpus.value.value === "string" && /^[0-9]+(\.[0-9]+)?$/.test(cpus.value.value.trim())))
        ? Number(cpus.value.value)
        : Number.NaN;
    if (!Number.isFinite(v) || v <= 0 || v > 1024)
      ctx.problems.error(
        cpus.value.pos,
        [...path, "cpus"],
        "cpus must be a positive number of CPUs, e.g. 0.5 or 2",
      );
    else setLimit("cpus", "limits", "cpus", v, cpus.value.pos);
  }
  const pids = entry(map, "pids_limit");
  if (pids) {
    const n = wholeNumber(pids.value);
    if (n === undefined || n < 1 || n > 4_194_304)
      ctx.problems.error(
        pids.value.pos,
        [...path, "pids_limit"],
        "pids_limit must be a whole number from 1",
        "e.g. pids_limit: 200",
      );
    else setLimit("pids_limit", "limits", "pids", n, pids.value.pos);
  }
}

const PULL_POLICY =
  /^(always|never|missing|if_not_present|build|daily|weekly|refresh|every_[0-9]+[smhdw]?[0-9smhdw]*)$/;
const CAPABILITY = /^(ALL|(CAP_)?[A-Z][A-Z0-9_]*)$/;

export interface RuntimeOptions {
  /** The node's platform, `linux/amd64` or `linux/arm64`. */
  platform: string;
}

/** Reads the harmless fields of one service into `s` (and its legacy resources into s.resources). */
export function readRuntime(ctx: Ctx, map: YMap, path: Path, s: Service, o: RuntimeOptions): void {
  const at = (k: string): Path => [...path, k];
  const get = (k: string) => entry(map, k);
  for (const [key, field] of [
    ["init", "init"],
    ["read_only", "readOnly"],
    ["stdin_open", "stdinOpen"],
    ["tty", "tty"],
  ] as const) {
    const e = get(key);
    if (!e) continue;
    const v = asBool(ctx, e.value, at(key), key);
    if (v !== undefined) s[field] = v;
  }
  const user = get("user");
  if (user) {
    const v = asText(ctx, user.value, at("user"), "user");
    if (v !== undefined) {
      if (/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(v)) s.user = v;
      else
        ctx.problems.error(
          user.value.pos,
          at("user"),
          `user ${JSON.stringify(v)} is not USER[:GROUP]`,
          'e.g. user: "1000:1000" or user: app',
        );
    }
  }
  const wd = get("working_dir");
  if (wd) {
    const v = asText(ctx, wd.value, at("working_dir"), "working_dir");
    if (v !== undefined) {
      if (v.startsWith("/")) s.workingDir = v;
      else
        ctx.problems.error(
          wd.value.pos,
          at("working_dir"),
          `working_dir ${JSON.stringify(v)} must be an absolute path in the container`,
        );
    }
  }
  const tmpfs = get("tmpfs");
  if (tmpfs) {
    const list = stringOrList(ctx, tmpfs.value, at("tmpfs"), "tmpfs");
    if (list) {
      const bad = list.find((t) => !t.startsWith("/"));
      if (bad !== undefined)
        ctx.problems.error(
          tmpfs.value.pos,
          at("tmpfs"),
          `tmpfs ${JSON.stringify(bad)} must be an absolute path in the container`,
          "e.g. tmpfs: [/tmp, /run:size=64m]",
        );
      else s.tmpfs = list;
    }
  }
  const shm = get("shm_size");
  if (shm) {
    const b = bytesOf(ctx, shm.value, at("shm_size"), "shm_size");
    if (b !== undefined) s.shmSizeBytes = b;
  }
  const ul = get("ulimits");
  if (ul) {
    const u = readUlimits(ctx, ul.value, at("ulimits"));
    if (u) s.ulimits = u;
  }
  const cd = get("cap_drop");
  if (cd) {
    const list = asTextList(ctx, cd.value, at("cap_drop"), "cap_drop");
    if (list) {
      const bad = list.find((c) => !CAPABILITY.test(c.toUpperCase()));
      if (bad !== undefined)
        ctx.problems.error(
          cd.value.pos,
          at("cap_drop"),
          `${JSON.stringify(bad)} is not a capability`,
          "e.g. cap_drop: [ALL] or [NET_RAW]",
        );
      else s.capDrop = list;
    }
  }
  for (const [key, field] of [
    ["hostname", "hostname"],
    ["domainname", "domainname"],
  ] as const) {
    const e = get(key);
    if (!e) continue;
    const v = asText(ctx, e.value, at(key), key);
    if (v === undefined) continue;
    if (isHostName(v)) s[field] = v;
    else
      ctx.problems.error(
        e.value.pos,
        at(key),
        `${key} ${JSON.stringify(v)} is not a host name`,
        "letters, digits and '-', labels separated by '.'",
      );
  }
  const eh = get("extra_hosts");
  if (eh) {
    const v = readExtraHosts(ctx, eh.value, at("extra_hosts"));
    if (v) s.extraHosts = v;
  }
  const dns = get("dns");
  if (dns) {
    const list = stringOrList(ctx, dns.value, at("dns"), "dns");
    const bad = list?.find((a) => isIP(a) === 0);
    if (bad !== undefined)
      ctx.problems.error(
        dns.value.pos,
        at("dns"),
        `dns ${JSON.stringify(bad)} is not an IP address`,
        "list the resolvers' addresses, e.g. dns: [1.1.1.1]",
      );
    else if (list) s.dns = list;
  }
  const ds = get("dns_search");
  if (ds) {
    const list = stringOrList(ctx, ds.value, at("dns_search"), "dns_search");
    const bad = list?.find((d) => d !== "." && !isHostName(d));
    if (bad !== undefined)
      ctx.problems.error(ds.value.pos, at("dns_search"), `dns_search ${JSON.stringify(bad)} is not a domain`);
    else if (list) s.dnsSearch = list;
  }
  const dopt = get("dns_opt");
  if (dopt) {
    const list = asTextList(ctx, dopt.value, at("dns_opt"), "dns_opt");
    if (list) s.dnsOpt = list;
  }
  const ga = get("group_add");
  if (ga) {
    const list = asTextList(ctx, ga.value, at("group_add"), "group_add");
    if (list) s.groupAdd = list;
  }
  const lg = get("logging");
  if (lg) {
    const l = readLogging(ctx, lg.value, at("logging"));
    if (l) s.logging = l;
  }
  legacyResources(ctx, map, path, s.resources);
  const pp = get("pull_policy");
  if (pp) {
    const v = asText(ctx, pp.value, at("pull_policy"), "pull_policy");
    if (v !== undefined && !PULL_POLICY.test(v)) {
      ctx.problems.error(
        pp.value.pos,
        at("pull_policy"),
        `pull_policy ${JSON.stringify(v)} is not one of Compose's`,
        "always, never, missing, build, daily, weekly or every_<duration>",
      );
    } else if (v !== undefined) {
      ctx.problems.warn(
        pp.value.pos,
        at("pull_policy"),
        `pull_policy ${v} is a note only: berth pins every image to a digest at preview, and the node pulls exactly that`,
        "to take a newer image, run pulumi up again (it resolves the tag anew)",
      );
    }
  }
  const pf = get("platform");
  if (pf) {
    const v = asText(ctx, pf.value, at("platform"), "platform");
    if (v !== undefined) {
      if (platformMatches(v, o.platform)) s.platform = v;
      else platformProblem(ctx, pf.value, at("platform"), v, o.platform);
    }
  }
}

export function platformMatches(given: string, node: string): boolean {
  return normalizePlatform(given) === normalizePlatform(node);
}

export function platformProblem(
  ctx: Ctx,
  node: YNode,
  path: Path,
  given: string,
  nodePlatform: string,
): void {
  ctx.problems.error(
    node.pos,
    path,
    `platform ${given} is not the node's (${nodePlatform}): the node cannot run it without emulation`,
    `write platform: ${nodePlatform} (or remove it), or place the environment on a node of that architecture`,
  );
}
