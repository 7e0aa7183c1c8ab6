import * as pulumi from "@pulumi/pulumi";
import type * as providers from "./runtime/providers";
import { PROVIDER_RUNTIME } from "./runtime-path";

/** A provider table of the runtime bundle (components/runtime/providers.ts). */
export type RuntimeProviderKind = keyof typeof providers;

/**
 * A dynamic resource's `__provider` for a provider of the runtime bundle: one line that the SDK's
 * provider process loads as a module (its `handler()` gives the provider). The SDK's own
 * `pulumi.dynamic.Resource` stores its closure serializer's text instead, 1.2-2.2 KB per resource
 * for the same `require(runtime).<kind>.<method>` calls, and every byte of an input is carried in
 * each registration, check and answer, and kept twice in the state.
 */
export function providerText(kind: RuntimeProviderKind): string {
  return `exports.handler = () => require(${JSON.stringify(PROVIDER_RUNTIME)}).providers.${kind};\n`;
}

/**
 * A dynamic resource (type `pulumi-nodejs:dynamic:Resource`, as `pulumi.dynamic.Resource`'s) run by
 * the runtime bundle's provider `kind`. Same type, same provider plugin, same inputs but
 * `__provider`: a state written with the serialized provider is read, diffed and updated as before.
 */
export abstract class RuntimeResource extends pulumi.CustomResource {
  constructor(
    kind: RuntimeProviderKind,
    name: string,
    props: pulumi.Inputs,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super("pulumi-nodejs:dynamic:Resource", name, { ...props, __provider: providerText(kind) }, opts);
  }
}
