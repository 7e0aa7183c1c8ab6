// `pulumi preview --json` as data: the preview digest (one JSON document), or the engine's event
// stream (`PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json`: one event per line),
// which alone carries the policy pack's violations. Pure.

export interface ResourceState {
  urn: string;
  type: string;
  /** False for component resources (they only group others). */
  custom: boolean;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

export interface PreviewStep {
  op: string;
  urn: string;
  type: string;
  old?: ResourceState;
  new?: ResourceState;
}

export interface PolicyViolation {
  policyName: string;
  policyPack: string;
  enforcementLevel: string;
  message: string;
  urn?: string;
}

export interface Diagnostic {
  severity: string;
  message: string;
  urn?: string;
}

export interface Preview {
  stack?: string;
  steps: PreviewStep[];
  violations: PolicyViolation[];
  diagnostics: Diagnostic[];
  changeSummary: Record<string, number>;
  /** False when the text was a digest: policy violations are not in a digest. */
  hasPolicyEvents: boolean;
}

export class PreviewParseError extends Error {}

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);

function state(x: unknown): ResourceState | undefined {
  if (!isObj(x) || typeof x.urn !== "string") return undefined;
  return {
    urn: x.urn,
    type: typeof x.type === "string" ? x.type : "",
    // The event stream leaves `custom` out when false; a component has no provider either.
    custom: "custom" in x ? x.custom !== false : typeof x.provider === "string" && x.provider !== "",
    ...(isObj(x.inputs) ? { inputs: x.inputs } : {}),
    ...(isObj(x.outputs) ? { outputs: x.outputs } : {}),
  };
}

function step(op: unknown, urn: unknown, type: unknown, old: unknown, neu: unknown): PreviewStep | undefined {
  if (typeof op !== "string" || typeof urn !== "string") return undefined;
  const o = state(old);
  const n = state(neu);
  return {
    op,
    urn,
    type: typeof type === "string" && type !== "" ? type : (n?.type ?? o?.type ?? urnType(urn)),
    ...(o ? { old: o } : {}),
    ...(n ? { new: n } : {}),
  };
}

/** `urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME` → TYPE */
export function urnType(urn: string): string {
  const parts = urn.split("::");
  return (parts[2] ?? "").split("$").pop() ?? "";
}

export function urnName(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

export function urnStack(urn: string): string | undefined {
  return /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];
}

function fromDigest(d: Json): Preview {
  const steps = (Array.isArray(d.steps) ? d.steps : [])
    .filter(isObj)
    .map((s) =>
      step(
        s.op,
        s.urn,
        isObj(s.newState) ? s.newState.type : isObj(s.oldState) ? s.oldState.type : "",
        s.oldState,
        s.newState,
      ),
    )
    .filter((s): s is PreviewStep => s !== undefined);
  const diagnostics = (Array.isArray(d.diagnostics) ? d.diagnostics : []).filter(isObj).map((x) => ({
    severity: String(x.severity ?? ""),
    message: String(x.message ?? ""),
    ...(typeof x.urn === "string" && x.urn ? { urn: x.urn } : {}),
  }));
  return {
    ...(steps[0] ? { stack: urnStack(steps[0].urn) } : {}),
    steps,
    violations: [],
    diagnostics,
    changeSummary: isObj(d.changeSummary) ? (d.changeSummary as Record<string, number>) : {},
    hasPolicyEvents: false,
  };
}

function fromEvents(lines: Json[]): Preview {
  const byUrn = new Map<string, PreviewStep>();
  const violations: PolicyViolation[] = [];
  const diagnostics: Diagnostic[] = [];
  let changeSummary: Record<string, number> = {};
  for (const e of lines) {
    const pre = isObj(e.resourcePreEvent) ? e.resourcePreEvent.metadata : undefined;
    if (isObj(pre)) {
      const s = step(pre.op, pre.urn, pre.type, pre.old, pre.new);
      // A replacement shows as several steps of one resource; keep the most telling one.
      if (s && !(byUrn.has(s.urn) && s.op !== "replace")) byUrn.set(s.urn, s);
    } else if (isObj(e.policyEvent)) {
      const p = e.policyEvent;
      violations.push({
        policyName: String(p.policyName ?? ""),
        policyPack: String(p.policyPackName ?? ""),
        enforcementLevel: String(p.enforcementLevel ?? ""),
        message: String(p.message ?? ""),
        ...(typeof p.resourceUrn === "string" && p.resourceUrn ? { urn: p.resourceUrn } : {}),
      });
    } else if (isObj(e.diagnosticEvent)) {
      const x = e.diagnosticEvent;
      // Debug messages of the event stream echo resource registrations with secret values in
      // plain text: they are dropped here and never reach the summary.
      if (x.severity === "debug") continue;
      diagnostics.push({
        severity: String(x.severity ?? ""),
        message: `${x.prefix ?? ""}${x.message ?? ""}`,
        ...(typeof x.urn === "string" && x.urn ? { urn: x.urn } : {}),
      });
    } else if (isObj(e.summaryEvent) && isObj(e.summaryEvent.resourceChanges)) {
      changeSummary = e.summaryEvent.resourceChanges as Record<string, number>;
    }
  }
  const steps = [...byUrn.values()];
  return {
    ...(steps[0] ? { stack: urnStack(steps[0].urn) } : {}),
    steps,
    violations,
    diagnostics,
    changeSummary,
    hasPolicyEvents: true,
  };
}

/** Either form of `pulumi preview --json` output. */
export function parsePreview(text: string): Preview {
  const trimmed = text.trim();
  if (trimmed === "") throw new PreviewParseError("the preview output is empty");
  try {
    const whole = JSON.parse(trimmed);
    if (isObj(whole) && !("sequence" in whole)) return fromDigest(whole);
    if (isObj(whole)) return fromEvents([whole]);
  } catch {
    // not one document: the event stream
  }
  const lines: Json[] = [];
  for (const [i, line] of trimmed.split("\n").entries()) {
    if (line.trim() === "") continue;
    try {
      const e = JSON.parse(line);
      if (isObj(e)) lines.push(e);
    } catch {
      throw new PreviewParseError(
        `line ${i + 1} is not JSON: pass the output of \`pulumi preview --json\` (with or without PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true)`,
      );
    }
  }
  return fromEvents(lines);
}
