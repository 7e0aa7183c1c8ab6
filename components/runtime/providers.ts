// The dynamic providers whose resources name them by kind (components/runtime-resource.ts): each
// resource's `__provider` is one line that requires this bundle and takes `providers.<kind>`, the
// table the SDK's provider process calls (check, diff, create, update, delete, read). The methods
// are the ones the closure-serialized provider objects of earlier states call, so a state written
// before keeps working with this bundle.
import type * as pulumi from "@pulumi/pulumi";
import * as imageBuildMethods from "./image-build";
import * as releaseMethods from "./release";

export const release: pulumi.dynamic.ResourceProvider = {
  check: releaseMethods.check,
  diff: releaseMethods.diff,
  create: releaseMethods.create,
  update: releaseMethods.update,
  delete: releaseMethods.remove,
  read: releaseMethods.read,
};

export const imageBuild: pulumi.dynamic.ResourceProvider = {
  diff: imageBuildMethods.diff,
  create: imageBuildMethods.create,
  update: imageBuildMethods.update,
};
