import { buildRelease, MissingSecretError } from "../../contract/release/build";
import { keyValues, parse, positiveInt, required } from "../args";
import { type Io, UsageError } from "../io";
import { pinnedImagesFor, releaseOptions } from "./render";
import { loadManifest } from "./validate";

export const SIGN_USAGE = `usage: berth sign FILE --environment ID --node ID --sequence N --signing-key FILE --node-key FILE [options]

Validates FILE, renders it for the node, seals its secrets to the node's key and signs the
release. Prints the signed release (JSON) or writes it to --out.

options:
  --environment ID       the environment's id
  --node ID              the node the release is for
  --sequence N           the release's sequence number (above the node's applied one)
  --signing-key FILE     the Ed25519 private key (berth keygen signing)
  --node-key FILE        the node's X25519 public key (berth-agent keys, or berth keygen node)
  --secret NAME=@FILE    a secret's value, read from FILE
  --secret NAME=env:VAR  a secret's value, read from the environment variable VAR
  --expires-in DAYS      how long the release stays valid (default 7)
  --out FILE             write the signed release here instead of printing it
  and render's: --image, --resolve, --volume-root, --var, --project-dir`;

function secretValues(io: Io, values: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, source] of Object.entries(keyValues(values, "secret"))) {
    if (source.startsWith("@")) out[name] = io.readFile(source.slice(1)).replace(/\n$/, "");
    else if (source.startsWith("env:")) {
      const v = io.env[source.slice(4)];
      if (v === undefined)
        throw new UsageError(`--secret ${name}: the environment variable ${source.slice(4)} is not set`);
      out[name] = v;
    } else {
      throw new UsageError(`--secret ${name}: give the value as @FILE or env:VAR, never on the command line`);
    }
  }
  return out;
}

export async function sign(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...releaseOptions,
      node: { type: "string" },
      "signing-key": { type: "string" },
      "node-key": { type: "string" },
      secret: { type: "string", multiple: true },
      "expires-in": { type: "string" },
      out: { type: "string" },
    },
    SIGN_USAGE,
  );
  if (values.help) {
    io.out(SIGN_USAGE);
    return 0;
  }
  const environmentId = required(values, "environment", SIGN_USAGE);
  const nodeId = required(values, "node", SIGN_USAGE);
  const sequence = positiveInt(required(values, "sequence", SIGN_USAGE), "sequence");
  const signingKey = io.readFile(required(values, "signing-key", SIGN_USAGE)).trim();
  const nodePublicKey = io.readFile(required(values, "node-key", SIGN_USAGE)).trim();
  const days = values["expires-in"] ? positiveInt(values["expires-in"] as string, "expires-in") : 7;
  const secrets = secretValues(io, values.secret);
  const manifest = loadManifest(io, positionals[0], values, SIGN_USAGE);
  const images = await pinnedImagesFor(io, manifest, values);
  const issuedAt = new Date();
  try {
    const r = buildRelease({
      manifest,
      environmentId,
      nodeId,
      sequence,
      images,
      secrets,
      nodePublicKey,
      signingKey,
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + days * 86_400_000),
      ...(values["volume-root"] ? { volumeRoot: values["volume-root"] as string } : {}),
    });
    if (values.out) {
      io.writeFile(values.out as string, `${r.text}\n`, 0o644);
      io.out(
        `signed release ${sequence} of ${environmentId} for node ${nodeId} (key ${r.envelope.keyId}) → ${values.out}`,
      );
    } else io.out(r.text);
  } catch (e) {
    if (e instanceof MissingSecretError) throw new UsageError(e.message);
    throw e;
  }
  return 0;
}
