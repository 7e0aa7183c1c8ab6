// Credentials that berth's dynamic resources carry (registry passwords, channel keys, API tokens,
// the signing key, app secrets) are secret outputs: listed in additionalSecretOutputs, so the
// state and `pulumi stack output` never hold them in plain text, whatever the input was.
// @pulumi/policy hands a policy secret values already unwrapped, so the resource's option is
// what can be checked.
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { berthDynamicKind, DYNAMIC_RESOURCE_TYPE, isRecord, known } from "./berth-resources";

/** Property names (lowercase, no `_` or `-`) that hold a credential. */
const CREDENTIAL_NAMES = new Set([
  "password",
  "secrets",
  "secretkey",
  "secretaccesskey",
  "token",
  "apitoken",
  "apikey",
  "credentials",
  "signingkey",
  "privatekey",
]);

export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAMES.has(name.toLowerCase().replace(/[-_]/g, ""));
}

/**
 * The top-level properties that hold a credential: named like one, or an object with a
 * credential field (a registry's `password`, an S3 channel's `secretAccessKey`).
 */
export function credentialProperties(props: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of Object.keys(props)) {
    if (key.startsWith("__")) continue;
    if (isCredentialName(key)) {
      out.push(key);
      continue;
    }
    const v = known(() => props[key]);
    if (isRecord(v) && (known(() => Object.keys(v)) ?? []).some(isCredentialName)) out.push(key);
  }
  return out;
}

export const credentialsAreSecret: ResourceValidationPolicy = {
  name: "berth-credentials-secret",
  description:
    "Registry, channel and other credentials of berth's resources are secret outputs (additionalSecretOutputs).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== DYNAMIC_RESOURCE_TYPE) return;
    const kind = berthDynamicKind(args.props);
    if (kind === undefined) return;
    const secret = new Set(args.opts.additionalSecretOutputs ?? []);
    const missing = credentialProperties(args.props).filter((p) => !secret.has(p));
    if (missing.length > 0) {
      reportViolation(
        `${kind} '${args.name}' carries credentials in ${missing.join(", ")} without marking them secret: add them to additionalSecretOutputs so the state never holds them in plain text`,
      );
    }
  },
};
