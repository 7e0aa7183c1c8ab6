// berth's manifest next to `docker compose config --format json`: both brought to one shape, in
// Compose's spelling and units (durations in ms, sizes in bytes), for the fields the manifest
// keeps. Pure; test/system/compose-reference.test.ts runs the real Compose CLI and compares.
// Compose's side is read independently of the loader (its own Go-duration and size parsing), so
// a shared mistake cannot agree with itself.
import * as posix from "node:path/posix";
import type { Manifest, Service } from "../../../contract/manifest/schema";

type Obj = Record<string, unknown>;
/** One service as both sides are compared: field → value (absent fields are left out). */
export type View = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Go's time.Duration text ("1m30s", "1h0m0s", "500ms", "1.5s") → ms. */
export function goDurationMs(text: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  if (text === "0" || text === "0s") return 0;
  let ms = 0;
  let rest = text;
  while (rest.length > 0) {
    const m = /^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a Go duration: ${text}`);
    ms += Number(m[1]) * (units[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return Math.round(ms);
}

/** Compose prints sizes as byte counts, as a string or a number. */
function bytes(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a byte count: ${String(v)}`);
  return n;
}

function num(v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : Number(v);
}

function set(out: View, key: string, v: unknown): void {
  if (v === undefined) return;
  if (isObj(v) && Object.keys(v).length === 0) return;
  if (Array.isArray(v) && v.length === 0) return;
  out[key] = v;
}

function clean<T extends Obj>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** deploy.resources with Compose's legacy keys (mem_limit, cpus, ...) folded in, as Compose applies them. */
function composeResources(s: Obj): Obj {
  const r = isObj(s.deploy) && isObj(s.deploy.resources) ? s.deploy.resources : {};
  const lim = isObj(r.limits) ? r.limits : {};
  const res = isObj(r.reservations) ? r.reservations : {};
  const limits = clean({
    cpus: num(lim.cpus ?? s.cpus),
    memory: bytes(lim.memory ?? s.mem_limit),
    pids: num(lim.pids ?? s.pids_limit),
  });
  const reservations = clean({ cpus: num(res.cpus), memory: bytes(res.memory ?? s.mem_reservation) });
  const out: Obj = {};
  if (Object.keys(limits).length) out.limits = limits;
  if (Object.keys(reservations).length) out.reservations = reservations;
  return out;
}

function composeHealthcheck(h: unknown): Obj | undefined {
  if (!isObj(h)) return undefined;
  const d = (v: unknown) => (typeof v === "string" ? goDurationMs(v) : undefined);
  const disabled = h.disable === true || (Array.isArray(h.test) && h.test[0] === "NONE");
  return clean({
    // Compose creates the container of `disable: true` with the test ["NONE"].
    test: Array.isArray(h.test) ? h.test : disabled ? ["NONE"] : undefined,
    interval: d(h.interval),
    timeout: d(h.timeout),
    retries: num(h.retries),
    start_period: d(h.start_period),
    start_interval: d(h.start_interval),
    disable: disabled ? true : undefined,
  });
}

function composeFileMounts(list: unknown, kind: "secret" | "config"): Obj[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((m: Obj) => {
    const source = String(m.source);
    const base = kind === "secret" ? "/run/secrets" : "/";
    const t = typeof m.target === "string" ? m.target : undefined;
    return clean({
      source,
      target: t === undefined ? posix.join(base, source) : posix.isAbsolute(t) ? t : posix.join(base, t),
      // The Compose specification's defaults: root-owned, world-readable (0444).
      uid: m.uid === undefined ? 0 : Number(m.uid),
      gid: m.gid === undefined ? 0 : Number(m.gid),
      mode: m.mode === undefined ? 0o444 : Number(m.mode),
    });
  });
}

/**
 * One service of `docker compose config --format json` in the compared shape. `projectDir` is
 * the folder Compose resolved build contexts against (berth keeps them relative).
 */
export function composeView(s: Obj, projectDir: string): View {
  const out: View = {};
  set(out, "image", s.image ?? undefined);
  set(out, "command", s.command ?? undefined);
  if (s.entrypoint !== undefined && s.entrypoint !== null) out.entrypoint = s.entrypoint;
  set(
    out,
    "environment",
    isObj(s.environment)
      ? Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, v === null ? null : String(v)]))
      : undefined,
  );
  set(out, "healthcheck", composeHealthcheck(s.healthcheck));
  set(
    out,
    "depends_on",
    isObj(s.depends_on)
      ? Object.fromEntries(
          Object.entries(s.depends_on).map(([k, v]) => [
            k,
            {
              condition: (v as Obj).condition,
              required: (v as Obj).required !== false,
              restart: (v as Obj).restart === true,
            },
          ]),
        )
      : undefined,
  );
  set(out, "restart", s.restart);
  set(
    out,
    "volumes",
    Array.isArray(s.volumes)
      ? (s.volumes as Obj[]).map((v) =>
          clean({
            type: v.type,
            source: v.source,
            target: v.target,
            read_only: v.read_only === true,
            subpath: isObj(v.volume) ? (v.volume.subpath as string | undefined) : undefined,
          }),
        )
      : undefined,
  );
  set(out, "resources", composeResources(s));
  for (const k of [
    "init",
    "user",
    "working_dir",
    "read_only",
    "tmpfs",
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
    "stop_signal",
    "platform",
  ]) {
    set(out, k, s[k]);
  }
  set(out, "shm_size", bytes(s.shm_size));
  set(
    out,
    "ulimits",
    isObj(s.ulimits)
      ? Object.fromEntries(
          Object.entries(s.ulimits).map(([k, v]) => [
            k,
            typeof v === "number" ? { soft: v, hard: v } : { soft: (v as Obj).soft, hard: (v as Obj).hard },
          ]),
        )
      : undefined,
  );
  if (isObj(s.logging)) set(out, "logging", { driver: s.logging.driver, options: s.logging.options ?? {} });
  if (typeof s.stop_grace_period === "string") out.stop_grace_period = goDurationMs(s.stop_grace_period);
  set(out, "expose", Array.isArray(s.expose) ? s.expose.map((p) => Number(p)) : undefined);
  set(out, "labels", s.labels);
  if (isObj(s.networks)) {
    set(
      out,
      "networks",
      Object.fromEntries(
        Object.entries(s.networks).map(([n, v]) => [
          n,
          { aliases: (isObj(v) && Array.isArray(v.aliases) ? (v.aliases as string[]) : []).slice().sort() },
        ]),
      ),
    );
  }
  set(out, "secrets", composeFileMounts(s.secrets, "secret"));
  set(out, "configs", composeFileMounts(s.configs, "config"));
  if (isObj(s.build)) {
    const b = s.build;
    const ctx = typeof b.context === "string" ? b.context : ".";
    const rel = posix.relative(projectDir, posix.resolve(projectDir, ctx)) || ".";
    set(
      out,
      "build",
      clean({
        context: rel,
        dockerfile:
          b.dockerfile_inline === undefined
            ? ((b.dockerfile as string | undefined) ?? "Dockerfile")
            : undefined,
        dockerfile_inline: b.dockerfile_inline,
        args: isObj(b.args) && Object.keys(b.args).length ? b.args : undefined,
        target: b.target,
        platforms: b.platforms,
        labels: isObj(b.labels) && Object.keys(b.labels).length ? b.labels : undefined,
        additional_contexts: isObj(b.additional_contexts)
          ? Object.fromEntries(
              Object.entries(b.additional_contexts).map(([k, v]) => [
                k,
                String(v).startsWith("service:") ? v : posix.relative(projectDir, String(v)) || ".",
              ]),
            )
          : undefined,
      }),
    );
  }
  const deploy = isObj(s.deploy) ? s.deploy : {};
  const replicas = num(deploy.replicas) ?? num(s.scale);
  if (replicas !== undefined) out.replicas = replicas;
  if (isObj(deploy.update_config)) {
    set(out, "update_parallelism", num(deploy.update_config.parallelism));
    set(out, "update_order", deploy.update_config.order);
  }
  for (const hook of ["post_start", "pre_stop"]) {
    if (Array.isArray(s[hook]))
      set(
        out,
        hook,
        (s[hook] as Obj[]).map((h) =>
          clean({
            command: h.command,
            user: h.user,
            privileged: h.privileged,
            working_dir: h.working_dir,
            environment:
              isObj(h.environment) && Object.keys(h.environment).length ? h.environment : undefined,
          }),
        ),
      );
  }
  return out;
}

/** One manifest service in the compared shape. Fields berth adds of its own are left out. */
export function berthView(s: Service): View {
  const out: View = {};
  set(out, "image", s.image);
  set(out, "command", s.command);
  if (s.entrypoint !== undefined) out.entrypoint = s.entrypoint;
  set(
    out,
    "environment",
    Object.fromEntries(
      Object.entries(s.environment).map(([k, v]) => [k, "value" in v ? v.value : `secret:${v.secret}`]),
    ),
  );
  if (s.healthcheck) {
    const h = s.healthcheck;
    set(
      out,
      "healthcheck",
      clean({
        test: h.test,
        interval: h.intervalMs,
        timeout: h.timeoutMs,
        retries: h.retries,
        start_period: h.startPeriodMs,
        start_interval: h.startIntervalMs,
        disable: h.disable ? true : undefined,
      }),
    );
  }
  set(out, "depends_on", s.dependsOn);
  set(out, "restart", s.restart);
  set(
    out,
    "volumes",
    s.volumes.map((v) =>
      clean({
        type: "volume",
        source: v.source,
        target: v.target,
        read_only: v.readOnly,
        subpath: v.subpath,
      }),
    ),
  );
  set(out, "resources", s.resources);
  const plain: [string, unknown][] = [
    ["init", s.init],
    ["user", s.user],
    ["working_dir", s.workingDir],
    ["read_only", s.readOnly],
    ["tmpfs", s.tmpfs],
    ["cap_drop", s.capDrop],
    ["stdin_open", s.stdinOpen],
    ["tty", s.tty],
    ["hostname", s.hostname],
    ["domainname", s.domainname],
    ["extra_hosts", s.extraHosts],
    ["dns", s.dns],
    ["dns_search", s.dnsSearch],
    ["dns_opt", s.dnsOpt],
    ["group_add", s.groupAdd],
    ["stop_signal", s.stopSignal],
    ["platform", s.platform],
    ["shm_size", s.shmSizeBytes],
    ["ulimits", s.ulimits],
    ["logging", s.logging],
    ["stop_grace_period", s.stopGracePeriodMs],
    ["expose", s.expose],
    ["labels", s.labels],
  ];
  for (const [k, v] of plain) set(out, k, v);
  set(
    out,
    "networks",
    Object.fromEntries(
      Object.entries(s.networks).map(([n, v]) => [n, { aliases: v.aliases.slice().sort() }]),
    ),
  );
  set(out, "secrets", s.secrets);
  set(out, "configs", s.configs);
  if (s.build) {
    const b = s.build;
    set(
      out,
      "build",
      clean({
        context: b.context,
        dockerfile: b.dockerfileInline === undefined ? (b.dockerfile ?? "Dockerfile") : undefined,
        dockerfile_inline: b.dockerfileInline,
        args: Object.keys(b.args).length ? b.args : undefined,
        target: b.target,
        platforms: b.platforms,
        labels: b.labels && Object.keys(b.labels).length ? b.labels : undefined,
        additional_contexts: b.additionalContexts,
      }),
    );
  }
  set(out, "replicas", s.replicas);
  set(out, "update_parallelism", s.updateParallelism);
  for (const [k, hooks] of [
    ["post_start", s.postStart],
    ["pre_stop", s.preStop],
  ] as const) {
    set(
      out,
      k,
      hooks?.map((h) =>
        clean({
          command: h.command,
          user: h.user,
          working_dir: h.workingDir,
          environment: Object.keys(h.environment).length ? h.environment : undefined,
        }),
      ),
    );
  }
  out.update_order = s.updateOrder;
  return out;
}

/**
 * Compose's `links: [SERVICE:ALIAS]` name the linked service ALIAS for the linking one; berth
 * gives the linked service that network alias on the networks the two share. Compose's config
 * is brought to berth's form here (its depends_on already carries the link).
 */
function linksAsAliases(services: Obj): Obj {
  const out = structuredClone(services);
  for (const s of Object.values(out)) {
    if (!isObj(s) || !Array.isArray(s.links)) continue;
    for (const link of s.links as string[]) {
      const [name = "", alias = name] = link.split(":");
      const target = out[name];
      if (alias === name || !isObj(target) || !isObj(target.networks) || !isObj(s.networks)) continue;
      for (const n of Object.keys(s.networks)) {
        if (!Object.hasOwn(target.networks, n)) continue;
        const cfg = isObj(target.networks[n]) ? (target.networks[n] as Obj) : {};
        const aliases = Array.isArray(cfg.aliases) ? (cfg.aliases as string[]) : [];
        if (!aliases.includes(alias)) target.networks[n] = { ...cfg, aliases: [...aliases, alias] };
      }
    }
    delete s.links;
  }
  return out;
}

/** Every field where the two differ, as `service.field: berth X, compose Y`. */
export function compareManifest(m: Manifest, composeConfig: unknown, projectDir: string): string[] {
  const diffs: string[] = [];
  const cs = linksAsAliases(
    isObj(composeConfig) && isObj(composeConfig.services) ? composeConfig.services : {},
  );
  const names = new Set([...Object.keys(m.services), ...Object.keys(cs)]);
  for (const name of [...names].sort()) {
    const b = m.services[name];
    const c = cs[name];
    if (!b || !isObj(c)) {
      diffs.push(`${name}: ${b ? "only in berth's manifest" : "only in Compose's config"}`);
      continue;
    }
    const bv = berthView(b);
    const cv = composeView(unescapeDollars(c) as Obj, projectDir);
    // Without update_config.order, berth picks the order itself (stop-first for a writable volume).
    if (cv.update_order === undefined) delete bv.update_order;
    for (const k of [...new Set([...Object.keys(bv), ...Object.keys(cv)])].sort()) {
      const x = JSON.stringify(sortKeys(bv[k]));
      const y = JSON.stringify(sortKeys(cv[k]));
      if (x !== y) diffs.push(`${name}.${k}: berth ${x ?? "(absent)"}, compose ${y ?? "(absent)"}`);
    }
  }
  return diffs;
}

/** `config` prints a Compose file again, so each literal `$` comes back escaped as `$$`. */
function unescapeDollars(v: unknown): unknown {
  if (typeof v === "string") return v.replaceAll("$$", "$");
  if (Array.isArray(v)) return v.map(unescapeDollars);
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unescapeDollars(x)]));
  return v;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObj(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}
