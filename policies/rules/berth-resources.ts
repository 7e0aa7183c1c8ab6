/** All dynamic resources share this type; berth's are told apart by their `berthKind` property. */
export const DYNAMIC_RESOURCE_TYPE = "pulumi-nodejs:dynamic:Resource";

export function berthDynamicKind(props: Record<string, unknown>): string | undefined {
  const kind = props.berthKind;
  return typeof kind === "string" && kind !== "" ? kind : undefined;
}
