// The cloud providers' Pulumi SDKs (Cloudflare, Hetzner Cloud, Scaleway), each loaded at its first
// use rather than when the program's modules load. Only the cloud targets declare their resources:
// the local target's program never needs them, and loading the three cost ~40 ms of CPU at each
// program run's start (their index files define a lazy getter per resource module), twice in a
// `pulumi up` with its preview, on the way to a lost node's recovery (bench:recover). Components
// take their types with `import type` and their classes and functions from here.
import type * as Cloudflare from "@pulumi/cloudflare";
import type * as Hcloud from "@pulumi/hcloud";
import type * as Scaleway from "@pulumiverse/scaleway";

export const cloudflareSdk = (): typeof Cloudflare => require("@pulumi/cloudflare");
export const hcloudSdk = (): typeof Hcloud => require("@pulumi/hcloud");
export const scalewaySdk = (): typeof Scaleway => require("@pulumiverse/scaleway");
