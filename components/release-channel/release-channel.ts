import * as pulumi from "@pulumi/pulumi";
import { LOCAL_FOLDER_PROVIDER_VERSION, localFolderProvider } from "./local-folder-provider";

export interface ReleaseChannelArgs {
  /** local: an absolute folder path. */
  path: pulumi.Input<string>;
}

class LocalChannelFolder extends pulumi.dynamic.Resource {
  declare readonly url: pulumi.Output<string>;
  constructor(name: string, path: pulumi.Input<string>, opts?: pulumi.CustomResourceOptions) {
    super(
      localFolderProvider,
      name,
      {
        path,
        berthKind: "release-channel",
        berthProviderVersion: LOCAL_FOLDER_PROVIDER_VERSION,
        url: undefined,
      },
      opts,
    );
  }
}

/** Where releases are published and nodes report their status. Local target: a folder. */
export class ReleaseChannel extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: ReleaseChannelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:ReleaseChannel", name, {}, opts);
    const folder = new LocalChannelFolder(`${name}-folder`, args.path, { parent: this });
    this.url = folder.url;
    this.registerOutputs({ url: this.url });
  }
}
