// berth's one logger: structured JSON lines (pino) with levels. Secret values never reach a log
// line: fields with secret-like names are redacted by pino, and values registered with
// `registerSecret` are replaced wherever they appear in a message.
import pino from "pino";

const secretValues = new Set<string>();

/** Remember a secret value so that no log line ever prints it. */
export function registerSecret(value: string): void {
  if (value.length >= 4) secretValues.add(value);
}

function scrub(text: string): string {
  let out = text;
  for (const s of secretValues) out = out.split(s).join("[secret]");
  return out;
}

export type Logger = pino.Logger;

export function createLogger(name: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level: process.env.BERTH_LOG_LEVEL ?? "info",
      base: { name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
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
