// berth's one logger: structured JSON lines (pino) with levels. Secret values never reach a log
// line: fields with secret-like names are redacted by pino, and values registered with
// `registerSecret` are replaced wherever they appear, in the message and in every field.
import pino from "pino";
import { redactText } from "./process";

const secretValues = new Set<string>();

/** Remember a secret value so that no log line ever prints it. */
export function registerSecret(value: string): void {
  if (value.length >= 4) secretValues.add(value);
}

function scrub(text: string): string {
  return redactText(text, [...secretValues]);
}

/**
 * `value` with every registered secret replaced by `[secret]` in each of its strings, however
 * deep: for what leaves the node (status in the channel) and for log fields. Command output
 * (a failing hook's, a crashed container's last lines) can hold a secret the app was given.
 */
export function scrubSecrets<T>(value: T): T {
  if (secretValues.size === 0) return value;
  if (typeof value === "string") return scrub(value) as T;
  if (Array.isArray(value)) return value.map((v) => scrubSecrets(v)) as T;
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubSecrets(v)])) as T;
  return value;
}

export type Logger = pino.Logger;

export function createLogger(name: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level: process.env.BERTH_LOG_LEVEL ?? "info",
      base: { name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // Fields too, not only the message: `{ err: <a command's output> }` is common.
        log: (object) => scrubSecrets(object),
      },
      redact: {
        paths: [
          "password",
          "secret",
          "token",
          "privateKey",
          "*.password",
          "*.secret",
          "*.token",
          "*.privateKey",
        ],
        censor: "[secret]",
      },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === "string" ? scrub(a) : a)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination,
  );
}
