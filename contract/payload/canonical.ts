// Canonical JSON (RFC 8785, JSON Canonicalization Scheme) of a value, as text and as the UTF-8
// bytes that are signed. The `canonicalize` package does the ordering and number formatting;
// this module adds the checks that RFC 8785 asks for and the package leaves out.
import canonicalize from "canonicalize";

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why a value has no canonical JSON form (never includes the value itself). */
export class CanonicalJsonError extends Error {
  override readonly name = "CanonicalJsonError";
}

function check(value: unknown, path: string): void {
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError(`${path}: string has a lone surrogate`);
    return;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path}: number is not finite`);
    return;
  }
  if (value === null || typeof value === "boolean") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      check(item, `${path}[${i}]`);
    });
    return;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new CanonicalJsonError(`${path}: only plain objects, arrays, strings, numbers, booleans, null`);
    }
    for (const [key, item] of Object.entries(value)) {
      if (LONE_SURROGATE.test(key)) throw new CanonicalJsonError(`${path}: key has a lone surrogate`);
      if (item !== undefined) check(item, `${path}.${key}`);
    }
    return;
  }
  throw new CanonicalJsonError(`${path}: ${typeof value} has no JSON form`);
}

/**
 * The RFC 8785 canonical JSON text of a JSON value: object keys sorted by UTF-16 code units, no
 * whitespace, ECMAScript number formatting, minimal string escaping. Properties whose value is
 * undefined are left out (as JSON.stringify does). Throws CanonicalJsonError for values that
 * have no JSON form (functions, Dates, NaN, lone surrogates...).
 */
export function canonicalJson(value: unknown): string {
  check(value, "$");
  const text = canonicalize(value);
  if (text === undefined) throw new CanonicalJsonError("$: value has no JSON form");
  return text;
}

/** The UTF-8 bytes of `canonicalJson(value)`: what a signature covers. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}
