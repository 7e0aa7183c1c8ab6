// "A shrink is an error at preview, not at apply": a tiny dynamic resource beside each cloud
// volume whose `check` compares the new size with the size it recorded in the stack's state
// (`olds`). The engine runs `check` during `pulumi preview`, so a smaller size fails the preview
// with the volume named. No provider call, no `read`; the size in state is the one berth last
// applied (a volume grown by hand outside Pulumi is caught by the provider at apply instead).
import * as pulumi from "@pulumi/pulumi";

export const VOLUME_SIZE_GUARD_VERSION = "1";

export interface SizeGuardInputs {
  volume: string;
  sizeGb: number;
  berthKind: string;
  berthProviderVersion: string;
}

export const volumeSizeGuardProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: Partial<SizeGuardInputs>, news: SizeGuardInputs) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (typeof news.sizeGb !== "number" || !Number.isInteger(news.sizeGb) || news.sizeGb <= 0) {
      failures.push({
        property: "sizeGb",
        reason: `must be a positive whole number of GB, got ${news.sizeGb}`,
      });
    } else if (typeof olds?.sizeGb === "number" && news.sizeGb < olds.sizeGb) {
      failures.push({
        property: "sizeGb",
        reason: `volume ${news.volume}: ${news.sizeGb} GB is smaller than its current ${olds.sizeGb} GB; volumes only grow (to shrink, create a new volume and move the data)`,
      });
    }
    return { inputs: news, failures };
  },
  async diff(_id: string, olds: SizeGuardInputs, news: SizeGuardInputs) {
    const changes =
      olds.sizeGb !== news.sizeGb ||
      olds.volume !== news.volume ||
      olds.berthProviderVersion !== news.berthProviderVersion;
    return { changes, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs: SizeGuardInputs) {
    return { id: `size-guard-${inputs.volume}`, outs: inputs };
  },
  async update(_id: string, _olds: SizeGuardInputs, news: SizeGuardInputs) {
    return { outs: news };
  },
  async delete() {},
};

export class VolumeSizeGuard extends pulumi.dynamic.Resource {
  declare readonly sizeGb: pulumi.Output<number>;
  constructor(name: string, volume: string, sizeGb: number, opts?: pulumi.CustomResourceOptions) {
    super(
      volumeSizeGuardProvider,
      name,
      { volume, sizeGb, berthKind: "volume-size-guard", berthProviderVersion: VOLUME_SIZE_GUARD_VERSION },
      opts,
    );
  }
}
