import { ProcessError } from "./process";

/** One line (or a few) that says what went wrong, for a user: never a stack trace. */
export function describeError(e: unknown): string {
  if (e instanceof ProcessError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
