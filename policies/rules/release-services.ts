// Advisory checks on a release's services, read from its summary input: a health check (a
// Compose healthcheck or an x-berth-health probe) and a memory limit.
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { berthDynamicKind, DYNAMIC_RESOURCE_TYPE, isRecord, known, knownEntries } from "./berth-resources";

function releaseServices(props: Record<string, unknown>): [string, Record<string, unknown>][] {
  const summary = known(() => props.summary);
  if (!isRecord(summary)) return [];
  return knownEntries(known(() => summary.services)).filter((e): e is [string, Record<string, unknown>] =>
    isRecord(e[1]),
  );
}

function isRelease(type: string, props: Record<string, unknown>): boolean {
  return type === DYNAMIC_RESOURCE_TYPE && berthDynamicKind(props) === "release";
}

export function servicesWithoutHealthCheck(props: Record<string, unknown>): string[] {
  return releaseServices(props)
    .filter(([, s]) => {
      const hc = known(() => s.healthcheck);
      const probe = known(() => s.health);
      return (hc === undefined || hc === "none") && (probe === undefined || probe === "");
    })
    .map(([name]) => name);
}

export function servicesWithoutMemoryLimit(props: Record<string, unknown>): string[] {
  return releaseServices(props)
    .filter(([, s]) => {
      const m = known(() => s.memoryLimit);
      return typeof m !== "number" || m <= 0;
    })
    .map(([name]) => name);
}

export const releaseServicesHealthChecked: ResourceValidationPolicy = {
  name: "berth-release-health-check",
  description: "Every service of a release has a health check (Compose healthcheck or x-berth-health).",
  enforcementLevel: "advisory",
  validateResource: (args, reportViolation) => {
    if (!isRelease(args.type, args.props)) return;
    const env = known(() => args.props.environmentId) ?? args.name;
    for (const s of servicesWithoutHealthCheck(args.props)) {
      reportViolation(
        `release of ${env}: service ${s} has no health check: a broken version is only caught if it exits; add a healthcheck or x-berth-health`,
      );
    }
  },
};

export const releaseServicesMemoryLimited: ResourceValidationPolicy = {
  name: "berth-release-memory-limit",
  description: "Every service of a release has a memory limit (deploy.resources.limits.memory).",
  enforcementLevel: "advisory",
  validateResource: (args, reportViolation) => {
    if (!isRelease(args.type, args.props)) return;
    const env = known(() => args.props.environmentId) ?? args.name;
    for (const s of servicesWithoutMemoryLimit(args.props)) {
      reportViolation(
        `release of ${env}: service ${s} has no memory limit: one leak can starve every app on the node; set deploy.resources.limits.memory`,
      );
    }
  },
};
