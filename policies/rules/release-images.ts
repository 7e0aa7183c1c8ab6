// Every image a release runs is pinned by digest and lives in the environment's registry
// namespace. Built images arrive pinned (`images`, known once the build ran); every other
// service's image is the one written in the Compose file, which must then carry its digest, so
// that what a reviewer saw in the preview is what runs (a tag would be resolved at publish time).
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { parseReference } from "../../contract/oci/reference";
import { berthDynamicKind, DYNAMIC_RESOURCE_TYPE, isRecord, known, knownEntries } from "./berth-resources";

const PINNED = /@sha256:[a-f0-9]{64}$/;

export interface Namespace {
  host: string;
  prefix: string;
  allowOutside: boolean;
}

export function inNamespace(image: string, ns: Namespace): boolean {
  try {
    const ref = parseReference(image);
    const prefix = ns.prefix.replace(/^\/+|\/+$/g, "");
    return (
      ref.registry === ns.host &&
      (prefix === "" || ref.repository === prefix || ref.repository.startsWith(`${prefix}/`))
    );
  } catch {
    return false;
  }
}

/** The release's registry input (a secret: only host, prefix and allowOutside are read). */
function namespaceOf(props: Record<string, unknown>): Namespace | undefined {
  const r = known(() => props.registry);
  if (!isRecord(r)) return undefined;
  const host = known(() => r.host);
  const prefix = known(() => r.prefix);
  if (typeof host !== "string" || typeof prefix !== "string") return undefined;
  return { host, prefix, allowOutside: known(() => r.allowOutside) === true };
}

/** Problems with a release's images: `[service, message]`, checked where the values are known. */
export function releaseImageProblems(props: Record<string, unknown>): string[] {
  const ns = namespaceOf(props);
  const images = known(() => props.images);
  const built = new Map(knownEntries(images));
  const builtNames = new Set(isRecord(images) ? (known(() => Object.keys(images)) ?? []) : []);
  const services = knownEntries(known(() => (isRecord(props.summary) ? props.summary.services : undefined)));
  const problems: string[] = [];
  const check = (service: string, image: string, source: string) => {
    if (!PINNED.test(image)) {
      problems.push(
        `service ${service}: ${image} is not pinned by digest (${source}); write it as REPOSITORY@sha256:… so the preview shows what will run`,
      );
    }
    if (ns && !ns.allowOutside && !inNamespace(image, ns)) {
      problems.push(
        `service ${service}: ${image} is outside the environment's registry namespace ${ns.host}/${ns.prefix}; push it there (or allowImagesOutsideNamespace)`,
      );
    }
  };
  for (const [service, image] of built) {
    if (typeof image === "string") check(service, image, "built image");
  }
  for (const [service, summary] of services) {
    if (builtNames.has(service) || !isRecord(summary)) continue;
    const image = known(() => summary.image);
    if (typeof image === "string") check(service, image, "Compose image");
  }
  return problems;
}

export const releaseImagesPinned: ResourceValidationPolicy = {
  name: "berth-release-images-pinned",
  description:
    "Every image of a release is pinned by digest and lives in the environment's registry namespace.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== DYNAMIC_RESOURCE_TYPE || berthDynamicKind(args.props) !== "release") return;
    const env = known(() => args.props.environmentId) ?? args.name;
    for (const p of releaseImageProblems(args.props)) reportViolation(`release of ${env}: ${p}`);
  },
};
