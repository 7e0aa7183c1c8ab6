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

/** syslog priorities (sd-daemon(3)) of pino's levels: journald reads a `<N>` line prefix. */
const JOURNAL_PRIORITY: Readonly<Record<string, number>> = {
  fatal: 2,
  error: 3,
  warn: 4,
  info: 6,
  debug: 7,
  trace: 7,
};

/** A log line with the `<N>` prefix of its level's priority, for journald. */
export function withJournalPriority(line: string): string {
  const level = /"level":"([a-z]+)"/.exec(line)?.[1] ?? "info";
  return `<${JOURNAL_PRIORITY[level] ?? 6}>${line}`;
}

/**
 * Under systemd (stdout connected to the journal: $JOURNAL_STREAM), each line carries its
 * priority, so `journalctl -p warning -u berth-agent` shows warnings and errors only.
 */
function defaultDestination(): pino.DestinationStream | undefined {
  if (!process.env.JOURNAL_STREAM) return undefined;
  return { write: (line: string) => void process.stdout.write(withJournalPriority(line)) };
}

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
    destination ?? defaultDestination(),
  );
}
