import { describe, expect, it } from "vitest";
import { memoryProjectFiles } from "./project-files";
import { accept, at, reject } from "./testing";

const files = memoryProjectFiles({
  "common.yaml": `services:
  base:
    image: nginx
    command: [nginx, -g, daemon off;]
    environment: [A=base, B=base]
    labels: { team: web }
    volumes: [data:/data, cache:/cache]
    dns: [1.1.1.1]
    healthcheck: { test: [CMD, "true"], interval: 10s }
  chained:
    extends: base
    environment: { C: chained }
`,
  "sub/app.yaml": `services:
  api:
    build: .
    env_file: api.env
    expose: ["8080"]
volumes:
  apidata: {}
`,
  "sub/api.env": "FROM_SUB=1\n",
  "sub/bad.yaml": "services:\n  x:\n    image: nginx\n    privileged: true\n",
  "loop.yaml": "include: [loop2.yaml]\nservices: { l1: { image: nginx } }\n",
  "loop2.yaml": "include: [loop.yaml]\nservices: { l2: { image: nginx } }\n",
});

describe("extends", () => {
  it("merges the base under the service as Compose does", () => {
    const r = accept(
      `services:
  web:
    extends: { file: common.yaml, service: chained }
    command: [nginx]
    environment: { B: web }
    labels: { tier: front }
    volumes: [other:/cache]
    dns: [8.8.8.8]
    healthcheck: { interval: 5s }
volumes: { data: {}, cache: {}, other: {} }
`,
      { files },
    );
    const web = r.manifest.services.web;
    expect(web).toMatchObject({
      image: "nginx",
      command: ["nginx"],
      environment: { A: { value: "base" }, B: { value: "web" }, C: { value: "chained" } },
      labels: { team: "web", tier: "front" },
      volumes: [
        { source: "data", target: "/data", readOnly: false },
        { source: "other", target: "/cache", readOnly: false },
      ],
      dns: ["1.1.1.1", "8.8.8.8"],
      healthcheck: { test: ["CMD", "true"], intervalMs: 5000 },
    });
  });

  it("extends a service of the same file, and !reset / !override change what is inherited", () => {
    const r = accept(
      `services:
  base:
    image: nginx
    environment: { A: "1" }
    dns: [1.1.1.1]
  web:
    extends: base
    environment: !override { B: "2" }
    dns: !reset []
`,
    );
    expect(r.manifest.services.web?.environment).toEqual({ B: { value: "2" } });
    expect(r.manifest.services.web?.dns).toBeUndefined();
  });

  it("locates problems: an unknown service, a cycle, a file outside the project or missing", () => {
    expect(at(reject("services:\n  web:\n    extends: nope\n"), "services.web.extends").message).toBe(
      "extends: there is no service nope in compose.yaml",
    );
    expect(
      at(reject("services:\n  a:\n    extends: b\n  b:\n    extends: a\n", { files }), "services.b.extends")
        .message,
    ).toMatch(/extends cycle/);
    expect(
      at(
        reject("services:\n  web:\n    extends: { file: ../x.yaml, service: a }\n", { files }),
        "services.web.extends.file",
      ).message,
    ).toBe("extends of ../x.yaml, outside the project folder, is not allowed");
    expect(
      at(
        reject("services:\n  web:\n    extends: { file: gone.yaml, service: a }\n", { files }),
        "services.web.extends.file",
      ).message,
    ).toBe("extends: gone.yaml does not exist");
  });
});

describe("include", () => {
  it("brings the included file's services and volumes, with paths relative to its folder", () => {
    const r = accept("include: [sub/app.yaml]\nservices:\n  web: { image: nginx }\n", { files });
    expect(Object.keys(r.manifest.services).sort()).toEqual(["api", "web"]);
    expect(r.manifest.services.api?.build?.context).toBe("sub");
    expect(r.manifest.services.api?.environment).toEqual({ FROM_SUB: { value: "1" } });
    expect(Object.keys(r.manifest.volumes)).toEqual(["apidata"]);
  });

  it("locates a problem in the included file, and refuses a conflict and a cycle", () => {
    const p = at(
      reject("include: [sub/bad.yaml]\nservices: { web: { image: nginx } }\n", { files }),
      "services.x.privileged",
    );
    expect(p).toMatchObject({ file: "sub/bad.yaml", line: 4, col: 5 });
    expect(
      at(reject("include: [sub/app.yaml]\nservices:\n  api: { image: nginx }\n", { files }), "include[0]")
        .message,
    ).toMatch(/sub\/app\.yaml defines services\.api, which is already defined/);
    expect(
      at(reject("include: [loop.yaml]\nservices: { web: { image: nginx } }\n", { files }), "include[0]")
        .message,
    ).toMatch(/include cycle/);
    expect(
      at(
        reject("include: [https://example.com/c.yaml]\nservices: { web: { image: nginx } }\n", { files }),
        "include[0]",
      ).message,
    ).toMatch(/remote file/);
  });
});
