import type { ResourceValidationPolicy } from "@pulumi/policy";
import { berthDynamicKind, DYNAMIC_RESOURCE_TYPE } from "./berth-resources";

/**
 * Every berth dynamic resource carries the version of the provider code that manages it, so
 * that a change of that code shows in a preview instead of going unnoticed.
 */
export const dynamicResourcesVersioned: ResourceValidationPolicy = {
  name: "berth-dynamic-resources-versioned",
  description: "berth's dynamic resources declare the version of their provider code (berthProviderVersion).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== DYNAMIC_RESOURCE_TYPE) return;
    const kind = berthDynamicKind(args.props);
    if (kind === undefined) return;
    const v = args.props.berthProviderVersion;
    if (typeof v !== "string" || v === "") {
      reportViolation(
        `${kind} '${args.name}' has no berthProviderVersion: pass the provider's version as an input so code changes show in previews.`,
      );
    }
  },
};
