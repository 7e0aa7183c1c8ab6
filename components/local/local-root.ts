import * as pulumi from "@pulumi/pulumi";
import { LOCAL_FOLDER_PROVIDER_VERSION, localFolderProvider } from "../release-channel/local-folder-provider";

/**
 * The local target's own folder (node state, channel, volumes live inside). Created first and
 * removed last, so `pulumi destroy` leaves nothing of the stack on disk. Removed only when
 * berth's marker is inside.
 */
export class LocalRoot extends pulumi.dynamic.Resource {
  declare readonly path: pulumi.Output<string>;

  constructor(name: string, path: string, opts?: pulumi.CustomResourceOptions) {
    super(
      localFolderProvider,
      name,
      { path, berthKind: "local-root", berthProviderVersion: LOCAL_FOLDER_PROVIDER_VERSION, url: undefined },
      opts,
    );
  }
}
