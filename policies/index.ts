import { PolicyPack } from "@pulumi/policy";
import { dynamicResourcesVersioned } from "./rules/dynamic-versioned";

new PolicyPack("berth", {
  policies: [dynamicResourcesVersioned],
});
