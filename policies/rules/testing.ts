// Test helpers: hand-made arguments for a policy's validateResource / validateStack, as the
// policy SDK would pass them, and the violations a call reports.
import type {
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

export function resourceOptions(opts: Partial<PolicyResourceOptions> = {}): PolicyResourceOptions {
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
    ...opts,
  };
}

export function resourceArgs(
  type: string,
  props: Record<string, unknown>,
  opts: Partial<PolicyResourceOptions> = {},
  name = "r",
  config: Record<string, unknown> = {},
): ResourceValidationArgs {
  return {
    type,
    props,
    urn: `urn:pulumi:test::test::${type}::${name}`,
    name,
    opts: resourceOptions(opts),
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason}`);
    },
  } as ResourceValidationArgs;
}

/** Runs a resource policy's validateResource on hand-made args; returns the messages it reported. */
export async function violations(
  policy: ResourceValidationPolicy,
  args: ResourceValidationArgs,
): Promise<string[]> {
  const out: string[] = [];
  if (!policy.validateResource) return out;
  const validations = Array.isArray(policy.validateResource)
    ? policy.validateResource
    : [policy.validateResource];
  for (const v of validations) await v(args, (message) => out.push(message));
  return out;
}

export function policyResource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  extra: Partial<PolicyResource> = {},
): PolicyResource {
  return {
    type,
    name,
    urn: `urn:pulumi:test::test::${type}::${name}`,
    props,
    opts: resourceOptions(),
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
    ...extra,
  } as PolicyResource;
}

export async function stackViolations(
  policy: StackValidationPolicy,
  resources: PolicyResource[],
): Promise<string[]> {
  const out: string[] = [];
  const args = {
    resources,
    stackTags: new Map(),
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason}`);
    },
  } as StackValidationArgs;
  await policy.validateStack(args, (message) => out.push(message));
  return out;
}
