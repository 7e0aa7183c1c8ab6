import { describe, expect, it } from "vitest";
import { buildArgs, type ImageBuildInputs, pushSecondsOf } from "./image-build";

const base: ImageBuildInputs = {
  berthKind: "image-build",
  berthProviderVersion: "2",
  context: "/p/app",
  args: {},
  repository: "r.example/acme/app",
  contextHash: "ab".repeat(32),
  registryHost: "r.example",
  username: "u",
  password: "p",
};

describe("buildArgs", () => {
  it("passes dockerfile_inline as a file, labels, named contexts and the platform to buildx", () => {
    const a = buildArgs(
      {
        ...base,
        dockerfileInline: "FROM x",
        labels: { b: "2", a: "1" },
        additionalContexts: {
          src: "/p/src",
          base: `docker-image://r.example/acme/base@sha256:${"0".repeat(64)}`,
        },
        platform: "linux/arm64",
      },
      "/tmp/m.json",
      "/tmp/b/Dockerfile",
    );
    const pairs = (flag: string) => a.flatMap((x, i) => (x === flag ? [a[i + 1]] : []));
    expect(pairs("--file")).toEqual(["/tmp/b/Dockerfile"]);
    expect(pairs("--label")).toEqual(["a=1", "b=2"]);
    expect(pairs("--build-context")).toEqual([
      `base=docker-image://r.example/acme/base@sha256:${"0".repeat(64)}`,
      "src=/p/src",
    ]);
    expect(pairs("--platform")).toEqual(["linux/arm64"]);
    expect(a.at(-1)).toBe("/p/app");
  });
});

describe("ImageBuild's push time", () => {
  it("adds up the pushing steps of BuildKit's plain progress", () => {
    const progress = [
      "#9 exporting to image",
      "#9 exporting layers 0.1s done",
      "#9 exporting manifest sha256:0a1b 0.0s done",
      "#9 pushing layers",
      "#9 pushing layers 0.3s done",
      "#9 pushing manifest for 127.0.0.1:5000/berth/demo-web:latest@sha256:0a1b",
      "#9 pushing manifest for 127.0.0.1:5000/berth/demo-web:latest@sha256:0a1b 0.1s done",
      "#9 DONE 0.5s",
    ].join("\n");
    expect(pushSecondsOf(progress)).toBe(0.4);
    expect(pushSecondsOf("#1 [internal] load build definition\n#1 DONE 0.0s")).toBe(0);
  });
});
