// A pull request comment from a preview: what would be removed or replaced first, then policy
// violations, then per environment the release that would be published and what changes in it
// (images, environment keys, volumes, routes), then every other resource change. Pure.
//
// Secrets: only a release's `summary` input is read for the environments (it names secrets as
// `(secret NAME)` and never holds their values); credential inputs (registry, channel, secrets,
// signing key, passwords) are never read; a value the engine marks secret shows as `(secret)`; a
// plain value whose key looks like a credential is not shown either.
import { type Preview, type PreviewStep, urnName, urnType } from "./parse";

const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const CREDENTIAL_KEY = /pass(word)?|secret|token|credential|private|api_?key|access_?key/i;
export const COMMENT_MARKER = "<!-- berth-preview-summary -->";

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);

function isSecret(x: unknown): boolean {
  return x === "[secret]" || (isObj(x) && SECRET_SIG_KEY in x);
}
const isUnknown = (x: unknown) => x === UNKNOWN;

/** Markdown-safe inline code (values can hold backticks, pipes, newlines). */
function code(text: string, max = 80): string {
  let t = text.replace(/\s+/g, " ");
  if (t.length > max) t = `${t.slice(0, max - 1)}…`;
  const fence = t.includes("`") ? "``" : "`";
  return `${fence}${t.replace(/\|/g, "\\|")}${fence}`;
}

const SECRET_MARKER = /^\(secret [^)]+\)$/;

/** How one environment value is shown: secret markers as they are, never a credential-like value. */
export function showValue(key: string, value: unknown): string {
  if (value === undefined) return "(none)";
  if (isSecret(value)) return "(secret)";
  if (isUnknown(value)) return "(known after deploy)";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (SECRET_MARKER.test(text)) return text;
  if (CREDENTIAL_KEY.test(key)) return "(value hidden: the name looks like a credential; use x-berth-secret)";
  return code(text);
}

/** `sha256:0123456789ab` from any reference with a digest. */
export function shortDigest(image: unknown): string | undefined {
  if (typeof image !== "string") return undefined;
  const m = /sha256:([a-f0-9]{12})[a-f0-9]*$/.exec(image);
  return m ? `sha256:${m[1]}` : undefined;
}

/** The tag berth gives a built image (the first 16 hex of its context's content hash). */
function tagOf(image: unknown): string | undefined {
  if (typeof image !== "string" || image.includes("@")) return undefined;
  const m = /:([\w.-]+)$/.exec(image.replace(/^[^/]*\//, ""));
  return m?.[1];
}

interface ServiceSummary {
  image?: unknown;
  environment?: Json;
  volumes?: unknown;
  [k: string]: unknown;
}

interface EnvView {
  env: string;
  op: string;
  step: PreviewStep;
  node?: string;
  oldSequence?: number;
  oldSummary?: { services: Record<string, ServiceSummary>; volumes: string[]; routes: string[] } | "secret";
  newSummary?: { services: Record<string, ServiceSummary>; volumes: string[]; routes: string[] } | "secret";
  oldImages?: Json;
  newImages?: Json;
}

function summaryOf(x: unknown): EnvView["oldSummary"] {
  if (x === undefined) return undefined;
  if (isSecret(x)) return "secret";
  if (!isObj(x)) return undefined;
  const services: Record<string, ServiceSummary> = {};
  if (isObj(x.services)) for (const [k, v] of Object.entries(x.services)) if (isObj(v)) services[k] = v;
  const strings = (a: unknown) =>
    Array.isArray(a) ? a.filter((s): s is string => typeof s === "string") : [];
  return { services, volumes: strings(x.volumes), routes: strings(x.routes) };
}

const berthKind = (s: PreviewStep): string | undefined => {
  const k = s.new?.inputs?.berthKind ?? s.old?.inputs?.berthKind ?? s.old?.outputs?.berthKind;
  return s.type === DYNAMIC && typeof k === "string" ? k : undefined;
};

const REPLACE_OPS = new Set(["replace", "create-replacement", "delete-replaced"]);
const DELETE_OPS = new Set(["delete", "discard"]);
const isReplace = (op: string) => REPLACE_OPS.has(op);
const isDelete = (op: string) => DELETE_OPS.has(op);

function envView(s: PreviewStep): EnvView {
  const inputs = s.new?.inputs ?? {};
  const oldIn = s.old?.inputs ?? {};
  const oldOut = s.old?.outputs ?? {};
  const seq = oldOut.sequence;
  const node = inputs.nodeId ?? oldIn.nodeId;
  const v: EnvView = {
    env: String(inputs.environmentId ?? oldIn.environmentId ?? urnName(s.urn)),
    op: s.op,
    step: s,
  };
  if (typeof node === "string") v.node = node;
  if (typeof seq === "number") v.oldSequence = seq;
  const os = summaryOf(oldOut.summary ?? oldIn.summary);
  const ns = summaryOf(s.new?.inputs?.summary);
  if (os) v.oldSummary = os;
  if (ns) v.newSummary = ns;
  const oi = oldOut.images ?? oldIn.images;
  if (isObj(oi)) v.oldImages = oi;
  if (isObj(inputs.images)) v.newImages = inputs.images;
  return v;
}

function releaseLine(v: EnvView): string {
  const where = v.node ? ` on node ${code(v.node)}` : "";
  if (isDelete(v.op)) {
    return `**removed**${where}: the node stops its containers${v.oldSequence ? ` (last release ${v.oldSequence})` : ""}`;
  }
  if (v.op === "create") return `**release 1** (new environment)${where}`;
  if (v.op === "same") return `no new release${v.oldSequence ? ` (stays at release ${v.oldSequence})` : ""}`;
  const next =
    v.oldSequence !== undefined
      ? `**release ${v.oldSequence + 1}** (now ${v.oldSequence})`
      : "**a new release**";
  return `${next}${where}${isReplace(v.op) ? ", **replacing** the environment (taken down first)" : ""}`;
}

function imageLines(v: EnvView): string[] {
  const o = v.oldSummary;
  const n = v.newSummary;
  if (!isObj(n) || n === undefined) return [];
  const lines: string[] = [];
  for (const [svc, s] of Object.entries(n.services)) {
    const before = isObj(o) ? o.services[svc] : undefined;
    if (!before) continue;
    const oldPinned = v.oldImages?.[svc];
    const newPinned = v.newImages?.[svc];
    const oldDigest = shortDigest(oldPinned) ?? shortDigest(before.image);
    const imageChanged = before.image !== s.image;
    const pinChanged = newPinned !== undefined && !isUnknown(newPinned) && oldPinned !== newPinned;
    if (!imageChanged && !pinChanged) continue;
    let to: string;
    if (newPinned !== undefined && !isUnknown(newPinned))
      to = shortDigest(newPinned) ?? code(String(newPinned));
    else if (newPinned !== undefined) {
      const ot = tagOf(before.image);
      const nt = tagOf(s.image);
      to = `rebuilt${ot && nt && ot !== nt ? ` (source ${code(ot.slice(0, 8))} → ${code(nt.slice(0, 8))})` : ""}, new digest at deploy`;
    } else to = shortDigest(s.image) ?? code(String(s.image));
    // A stop-first service (a volume) is stopped before its new container starts: say so, and
    // why when its image is one it shares with other services (one build context).
    const sharers = Object.entries(n.services)
      .filter(([other, x]) => other !== svc && x.image === s.image)
      .map(([other]) => code(other));
    const why =
      s.updateOrder !== "stop-first"
        ? ""
        : `; **stopped, then replaced** (stop-first: it keeps a volume)${sharers.length > 0 ? `, because the image it shares with ${sharers.join(", ")} changed` : ""}`;
    lines.push(`${code(svc)}: ${oldDigest ?? code(String(before.image))} → ${to}${why}`);
  }
  return lines;
}

function envLines(v: EnvView): string[] {
  const o = v.oldSummary;
  const n = v.newSummary;
  if (!isObj(o) || !isObj(n) || o === undefined || n === undefined) return [];
  const lines: string[] = [];
  for (const [svc, s] of Object.entries(n.services)) {
    const before = o.services[svc];
    if (!before) continue;
    const a = isObj(before.environment) ? before.environment : {};
    const b = isObj(s.environment) ? s.environment : {};
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (!(k in a)) lines.push(`${code(svc)} ${code(k)} added: ${showValue(k, b[k])}`);
      else if (!(k in b)) lines.push(`${code(svc)} ${code(k)} removed`);
      else if (JSON.stringify(a[k]) !== JSON.stringify(b[k]))
        lines.push(`${code(svc)} ${code(k)} changed: ${showValue(k, a[k])} → ${showValue(k, b[k])}`);
    }
  }
  return lines;
}

function listDiff(label: string, a: string[], b: string[]): string[] {
  const out: string[] = [];
  for (const x of b) if (!a.includes(x)) out.push(`${label} added: ${code(x)}`);
  for (const x of a) if (!b.includes(x)) out.push(`${label} removed: ${code(x)}`);
  return out;
}

function serviceLines(v: EnvView): string[] {
  const o = v.oldSummary;
  const n = v.newSummary;
  if (!isObj(o) || !isObj(n) || o === undefined || n === undefined) return [];
  const lines: string[] = [];
  for (const svc of Object.keys(n.services)) if (!o.services[svc]) lines.push(`service added: ${code(svc)}`);
  for (const svc of Object.keys(o.services))
    if (!n.services[svc]) lines.push(`service removed: ${code(svc)}`);
  lines.push(...listDiff("volume", o.volumes, n.volumes), ...listDiff("route", o.routes, n.routes));
  for (const [svc, s] of Object.entries(n.services)) {
    const before = o.services[svc];
    if (!before) continue;
    const strs = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
    for (const m of listDiff(`${code(svc)} mount`, strs(before.volumes), strs(s.volumes))) lines.push(m);
    const other = Object.keys({ ...before, ...s })
      .filter((k) => !["image", "environment", "volumes", "definition"].includes(k))
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(s[k]))
      .sort();
    if (other.length > 0) {
      lines.push(
        `${code(svc)} ${other.map((k) => `${k}: ${before[k] === undefined ? "(none)" : code(JSON.stringify(before[k]), 50)} → ${s[k] === undefined ? "(none)" : code(JSON.stringify(s[k]), 50)}`).join("; ")}`,
      );
    } else if (before.definition !== s.definition && before.image === s.image) {
      lines.push(`${code(svc)} other settings changed (labels, dependencies, …: see the Compose diff)`);
    }
  }
  return lines;
}

function environmentSection(v: EnvView): string[] {
  const out = [`#### ${code(v.env)}: ${releaseLine(v)}`];
  if (v.newSummary === "secret" || v.oldSummary === "secret") {
    out.push("", "The release summary is secret in this preview: its changes are not shown.");
    return out;
  }
  if (v.op === "create" && isObj(v.newSummary) && v.newSummary) {
    const s = v.newSummary;
    out.push(
      "",
      `services: ${
        Object.keys(s.services)
          .map((x) => code(x))
          .join(", ") || "(none)"
      }` +
        (s.volumes.length ? `; volumes: ${s.volumes.map((x) => code(x)).join(", ")}` : "") +
        (s.routes.length ? `; routes: ${s.routes.map((x) => code(x)).join(", ")}` : ""),
    );
    return out;
  }
  if (isDelete(v.op)) return out;
  const groups: [string, string[]][] = [
    ["Images", imageLines(v)],
    ["Environment", envLines(v)],
    ["Services, volumes and routes", serviceLines(v)],
  ];
  const any = groups.some(([, l]) => l.length > 0);
  for (const [title, lines] of groups) {
    if (lines.length === 0) continue;
    out.push("", `${title}:`, ...lines.map((l) => `- ${l}`));
  }
  if (!any && v.op !== "same")
    out.push("", "Nothing a node runs changes in the summary (credentials, signing key or channel changed).");
  return out;
}

function resourceLabel(s: PreviewStep): string {
  const kind = berthKind(s);
  return `${code(urnName(s.urn))} (${kind ? `berth ${kind}` : urnType(s.urn)})`;
}

const OP_WORD: Record<string, string> = {
  create: "create",
  update: "update",
  delete: "delete",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  discard: "forget",
  read: "read",
  import: "import",
};

export interface SummaryOptions {
  /** A heading for the comment, e.g. the stack's name. */
  title?: string;
}

export function previewMarkdown(p: Preview, opts: SummaryOptions = {}): string {
  // Components only group resources, the stack and providers are plumbing: none runs anything.
  const steps = p.steps.filter(
    (s) =>
      s.type !== "pulumi:pulumi:Stack" &&
      !s.type.startsWith("pulumi:providers:") &&
      (s.new ?? s.old)?.custom !== false,
  );
  const out: string[] = [
    COMMENT_MARKER,
    `### ${opts.title ?? `berth preview${p.stack ? `: stack ${code(p.stack)}` : ""}`}`,
    "",
  ];
  const counts = Object.entries(p.changeSummary)
    .filter(([op, n]) => op !== "same" && n > 0)
    .map(([op, n]) => `${n} to ${OP_WORD[op] ?? op}`);
  const mandatory = p.violations.filter((v) => v.enforcementLevel === "mandatory");
  const errors = p.diagnostics.filter((d) => d.severity.includes("err"));
  out.push(
    `${mandatory.length || errors.length ? "❌ this change cannot be deployed as it is" : counts.length ? "Changes" : "✅ No changes"}` +
      `${counts.length ? `: ${counts.join(", ")}` : ""}.`,
  );

  const destructive = steps.filter((s) => isDelete(s.op) || isReplace(s.op));
  if (destructive.length > 0) {
    out.push("", "#### ⚠️ Removed or replaced", "");
    for (const s of destructive) {
      const kind = berthKind(s);
      const what = isDelete(s.op) ? "**deleted**" : "**replaced** (deleted, then created again)";
      const note =
        kind === "release"
          ? ": the environment's containers stop on its node"
          : /volume/i.test(s.type)
            ? ": **its data goes with it**"
            : "";
      out.push(`- ${resourceLabel(s)} ${what}${note}`);
    }
  }

  if (p.violations.length > 0 || !p.hasPolicyEvents) {
    out.push("", "#### Policy");
    if (p.violations.length === 0) {
      out.push(
        "",
        "Policy results are not in a preview digest: run the preview with `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true` to include them.",
      );
    }
    const ordered = [...mandatory, ...p.violations.filter((v) => v.enforcementLevel !== "mandatory")];
    if (ordered.length > 0) out.push("");
    for (const v of ordered) {
      const lines = v.message.trim().split("\n");
      const detail = lines.length > 1 ? lines.slice(1).join(" ") : lines[0];
      out.push(
        `- ${v.enforcementLevel === "mandatory" ? "❌ **mandatory**" : "⚠️ advisory"} ${code(v.policyName)}${v.urn ? ` on ${code(urnName(v.urn))}` : ""}: ${detail}`,
      );
    }
  }

  const envs = steps.filter((s) => berthKind(s) === "release").map(envView);
  if (envs.length > 0) {
    out.push("", "#### Environments");
    const order = (v: EnvView) => (isDelete(v.op) || isReplace(v.op) ? 0 : v.op === "same" ? 2 : 1);
    for (const v of [...envs].sort((a, b) => order(a) - order(b) || a.env.localeCompare(b.env))) {
      out.push("", ...environmentSection(v));
    }
  }

  const others = steps.filter(
    (s) => berthKind(s) !== "release" && s.op !== "same" && !isDelete(s.op) && !isReplace(s.op),
  );
  if (others.length > 0) {
    out.push("", "#### Other resources", "");
    for (const s of others) out.push(`- ${OP_WORD[s.op] ?? s.op} ${resourceLabel(s)}`);
  }

  if (errors.length > 0) {
    out.push("", "#### Errors", "");
    for (const d of errors.slice(0, 20)) out.push(`- ${code(d.message.trim(), 300)}`);
  }
  return `${out.join("\n")}\n`;
}
