// Compose's duration and byte-size syntaxes.

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A Go duration as Compose writes them (`1m30s`, `1.5s`, `500ms`, `2h`), to whole milliseconds.
 * A number needs its unit (`10s`, not `10`), except 0. Sub-millisecond remainders are refused
 * rather than rounded silently.
 */
export function parseDurationMs(
  input: string | number,
): { ok: true; ms: number } | { ok: false; message: string } {
  const bad = {
    ok: false as const,
    message: `${JSON.stringify(String(input))} is not a duration`,
  };
  const s = String(input).trim();
  if (s === "0") return { ok: true, ms: 0 };
  if (/^[0-9]+(\.[0-9]+)?$/.test(s)) {
    return { ok: false, message: `${JSON.stringify(s)} has no unit (write ${s}s for seconds, or ms, m, h)` };
  }
  const re = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) return bad;
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] ?? Number.NaN);
    at = re.lastIndex;
  }
  if (s.length === 0 || !Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) return bad;
  const rounded = Math.round(total);
  if (Math.abs(total - rounded) > 1e-7) {
    return { ok: false, message: `${JSON.stringify(s)} is finer than a millisecond` };
  }
  return { ok: true, ms: rounded };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * A memory size as Compose/Docker reads it (`512m`, `1g`, `1.5GiB`, `2048kb`, `1073741824`): binary
 * multipliers, to whole bytes.
 */
export function parseBytes(
  input: string | number,
): { ok: true; bytes: number } | { ok: false; message: string } {
  const bad = {
    ok: false as const,
    message: `${JSON.stringify(String(input))} is not a size (like 512m or 1g)`,
  };
  if (typeof input === "number") {
    return Number.isInteger(input) && input > 0 && input <= Number.MAX_SAFE_INTEGER
      ? { ok: true, bytes: input }
      : bad;
  }
  const m = /^([0-9]+(?:\.[0-9]+)?)\s?([kmgtpb]?)(i?b)?$/i.exec(input.trim());
  if (!m) return bad;
  const unit = (m[2] ?? "").toLowerCase();
  const mult = SIZE_UNITS[unit];
  if (mult === undefined) return bad;
  const bytes = Math.floor(Number(m[1]) * mult);
  if (!Number.isFinite(bytes) || bytes <= 0 || bytes > Number.MAX_SAFE_INTEGER) return bad;
  return { ok: true, bytes };
}
