// Provider limits of an environment's volume, checked at construction (pure): size range, how
// many volumes one server takes, same location as the node, and grow only.
export const VOLUME_LIMITS = {
  hcloud: { minGb: 10, maxGb: 10_000, perServer: 16, where: "location", label: "Hetzner" },
  scaleway: { minGb: 1, maxGb: 10_000, perServer: 15, where: "zone", label: "Scaleway block" },
} as const;

export type VolumeProvider = keyof typeof VOLUME_LIMITS;

export interface VolumeCheck {
  provider: VolumeProvider;
  sizeGb: number;
  /** The size the volume has today, when known (from state: see size-guard.ts). */
  previousSizeGb?: number;
  nodeLocation: string;
  volumeLocation: string;
  /** How many berth volumes the node carries, this one included. */
  countOnNode: number;
}

export class VolumeLimitError extends Error {}

/** Throws a VolumeLimitError listing every problem; `name` prefixes each line. */
export function checkVolume(v: VolumeCheck, name = "volume"): void {
  const l = VOLUME_LIMITS[v.provider];
  const problems: string[] = [];
  if (!Number.isInteger(v.sizeGb) || v.sizeGb < l.minGb || v.sizeGb > l.maxGb) {
    problems.push(
      `sizeGb: ${v.sizeGb} GB is outside ${l.label} volume sizes (${l.minGb}–${l.maxGb.toLocaleString("en")} GB, whole GB)`,
    );
  }
  if (v.previousSizeGb !== undefined && v.sizeGb < v.previousSizeGb) {
    problems.push(
      `sizeGb: ${v.sizeGb} GB is smaller than the volume's current ${v.previousSizeGb} GB; volumes only grow (to shrink, create a new volume and move the data)`,
    );
  }
  if (v.volumeLocation !== v.nodeLocation) {
    problems.push(
      `${l.where}: the volume is in ${v.volumeLocation} but its node is in ${v.nodeLocation}; ${l.label} volumes attach only in the same ${l.where}`,
    );
  }
  if (v.countOnNode > l.perServer) {
    problems.push(
      `the node would carry ${v.countOnNode} volumes; ${l.label} allows at most ${l.perServer} per server`,
    );
  }
  if (problems.length > 0) throw new VolumeLimitError(problems.map((p) => `${name}: ${p}`).join("\n"));
}
