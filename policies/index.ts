import { PolicyPack } from "@pulumi/policy";
import { credentialsAreSecret } from "./rules/credentials-secret";
import { dynamicResourcesVersioned } from "./rules/dynamic-versioned";
import { nodeSizeCeiling } from "./rules/node-size";
import { releaseImagesPinned } from "./rules/release-images";
import { releaseServicesHealthChecked, releaseServicesMemoryLimited } from "./rules/release-services";
import { sshNotOpenToWorld } from "./rules/ssh-not-world";
import { volumesInNodeLocation } from "./rules/volume-location";
import { volumesProtected } from "./rules/volumes-protected";

new PolicyPack("berth", {
  policies: [
    // mandatory
    dynamicResourcesVersioned,
    sshNotOpenToWorld,
    releaseImagesPinned,
    volumesInNodeLocation,
    volumesProtected,
    credentialsAreSecret,
    // advisory
    releaseServicesHealthChecked,
    releaseServicesMemoryLimited,
    nodeSizeCeiling,
  ],
});
