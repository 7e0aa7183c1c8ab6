/** All dynamic resources share this type; berth's are told apart by their `berthKind` property. */
export const DYNAMIC_RESOURCE_TYPE = "pulumi-nodejs:dynamic:Resource";

export function berthDynamicKind(props: Record<string, unknown>): string | undefined {
  const kind = known(() => props.berthKind);
  return typeof kind === "string" && kind !== "" ? kind : undefined;
}

/**
 * The value `read` returns, or undefined when it touches a value that is unknown during preview.
 * @pulumi/policy's props throw when an unknown is read, which would turn the whole policy into a
 * "can't run during preview" note; a policy reads through this instead and checks what is known.
 */
export function known<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (e instanceof Error && "unknownTypeSentinel" in e) return undefined;
    throw e;
  }
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A plain copy of the known part of a value: unknown entries are left out. */
export function knownEntries(x: unknown): [string, unknown][] {
  if (!isRecord(x)) return [];
  const keys = known(() => Object.keys(x)) ?? [];
  const out: [string, unknown][] = [];
  for (const k of keys) {
    const v = known(() => x[k]);
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

/** The elements of an array that are known. */
export function knownItems(x: unknown): unknown[] {
  if (!Array.isArray(x)) return [];
  const n = known(() => x.length) ?? 0;
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const v = known(() => x[i]);
    if (v !== undefined) out.push(v);
  }
  return out;
}
