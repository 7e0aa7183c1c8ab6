import { describe, expect, it } from "vitest";
import { insideProject } from "./build";
import { accept, at, reject } from "./testing";

const file = (build: string) => `services:\n  web:\n    build: ${build}\n`;

describe("build", () => {
  it("accepts a context folder as a string, normalized relative to the project", () => {
    expect(accept(file("./web/")).manifest.services.web?.build).toEqual({ context: "web", args: {} });
    expect(accept(file(".")).manifest.services.web?.build).toEqual({ context: ".", args: {} });
    expect(accept(file("a/../b")).manifest.services.web?.build?.context).toBe("b");
  });

  it("accepts the long form: context, dockerfile, args (map or list), target", () => {
    const r = accept(
      file(
        "\n      context: ./web\n      dockerfile: docker/Dockerfile.prod\n      args:\n        - VERSION=1\n        - FROM_VAR\n      target: runtime",
      ),
      { variables: { FROM_VAR: "x" } },
    );
    expect(r.manifest.services.web?.build).toEqual({
      context: "web",
      dockerfile: "docker/Dockerfile.prod",
      args: { VERSION: "1", FROM_VAR: "x" },
      target: "runtime",
    });
    const m = accept(file("\n      context: .\n      args:\n        N: 3\n        E:"));
    expect(m.manifest.services.web?.build?.args).toEqual({ N: "3" });
    expect(m.warnings[0]?.message).toContain("build arg E has no value");
  });

  it("accepts an absolute context inside the project folder", () => {
    expect(accept(file("/srv/app/web")).manifest.services.web?.build?.context).toBe("web");
  });

  it("refuses a context outside the project folder", () => {
    for (const c of ["..", "../other", "web/../../x", "/etc", "/srv/app-other"]) {
      const p = at(reject(file(c)), "services.web.build");
      expect(p, c).toMatchObject({
        line: 3,
        col: 12,
        message: `the build context ${c} is outside the project folder`,
      });
      expect(p.hint).toContain("no ..");
    }
    expect(at(reject(file("~/src")), "services.web.build").message).toContain("home folder");
  });

  it("refuses a URL or git context", () => {
    for (const c of ["https://github.com/docker/compose.git", "git@github.com:a/b.git", "github.com/a/b"]) {
      const p = at(reject(file(c)), "services.web.build");
      expect(p.message).toContain("a remote build context");
      expect(p.hint).toContain("clone the sources");
    }
  });

  it("refuses a Dockerfile outside the project and the build fields berth does not support", () => {
    const ps = reject(
      file(
        "\n      context: web\n      dockerfile: ../../Dockerfile\n      ssh: [default]\n      cache_from: [x]\n      dockerfil: x",
      ),
    );
    expect(at(ps, "services.web.build.dockerfile").message).toContain("outside the project folder");
    expect(at(ps, "services.web.build.ssh")).toMatchObject({
      line: 6,
      message: expect.stringContaining("SSH agent"),
    });
    expect(at(ps, "services.web.build.cache_from").message).toContain("berth manages the build cache");
    expect(at(ps, "services.web.build.dockerfil").hint).toBe('did you mean "dockerfile"?');
  });

  it("resolves paths against the project", () => {
    expect(insideProject("/p", ".", "a/./b/")).toBe("a/b");
    expect(insideProject("/p", "a", "../b")).toBe("b");
    expect(insideProject("/p", "a", "../../b")).toBeUndefined();
    expect(insideProject(".", ".", "/abs")).toBeUndefined();
  });
});

describe("build: dockerfile_inline, labels, additional_contexts", () => {
  it("accepts them as Compose means them", () => {
    const b = accept(
      "services:\n  web:\n    build:\n      context: .\n      dockerfile_inline: 'FROM x'\n      labels: [a=b]\n      additional_contexts: [src=./src, img=service:db]\n  db:\n    image: postgres\n",
    ).manifest.services.web?.build;
    expect(b).toEqual({
      context: ".",
      args: {},
      dockerfileInline: "FROM x",
      labels: { a: "b" },
      additionalContexts: { src: "src", img: "service:db" },
    });
  });

  it("refuses what would reach outside the project or its services", () => {
    const ps = reject(
      "services:\n  web:\n    build:\n      context: .\n      dockerfile: Dockerfile\n      dockerfile_inline: 'FROM x'\n      additional_contexts: { a: ../up, b: 'https://github.com/x/y.git', c: 'docker-image://alpine' }\n",
    );
    expect(
      at(
        reject("services:\n  web:\n    build: { context: ., additional_contexts: { d: service:nope } }\n"),
        "services.web.build.additional_contexts.d",
      ).message,
    ).toBe("additional context d: there is no service nope with an image or a build");
    expect(ps.map((p) => [p.path, p.message])).toEqual([
      ["services.web.build.dockerfile_inline", "dockerfile and dockerfile_inline cannot both be given"],
      [
        "services.web.build.additional_contexts.a",
        "additional context a (../up) is outside the project folder",
      ],
      [
        "services.web.build.additional_contexts.b",
        "additional context b (https://github.com/x/y.git) is not allowed: berth builds from the project folder and the file's own services only",
      ],
      [
        "services.web.build.additional_contexts.c",
        "additional context c (docker-image://alpine) is not allowed: berth builds from the project folder and the file's own services only",
      ],
    ]);
  });
});
