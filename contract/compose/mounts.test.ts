// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { splitShort } from "./mounts";
import { accept, at, reject, web } from "./testing";

const TOP = "volumes:\n  data: {}\n  cache:\n";

describe("service volumes", () => {
  it("accepts named volumes in short and long syntax", () => {
    const r = accept(
      web(
        "volumes:\n  - data:/var/lib/data\n  - cache:/cache:ro\n  - type: volume\n    source: data\n    target: /other\n    read_only: true\n    volume:\n      subpath: sub/dir",
        TOP,
      ),
    );
    expect(r.manifest.services.web?.volumes).toEqual([
      { source: "data", target: "/var/lib/data", readOnly: false },
      { source: "cache", target: "/cache", readOnly: true },
      { source: "data", target: "/other", readOnly: true, subpath: "sub/dir" },
    ]);
  });

  const BIND = "bind mounts are not allowed";
  it("refuses bind mounts in every short syntax, at the entry's line", () => {
    const ps = reject(
      web("volumes:\n  - /x:/a\n  - ./x:/b\n  - ~/x:/c\n  - ../x:/d\n  - C:\\x:/e\n  - .:/f", TOP),
    );
    ["/x", "./x", "~/x", "../x", "C:\\x", "."].forEach((src, i) => {
      const p = at(ps, `services.web.volumes[${i}]`);
      expect(p).toMatchObject({ line: 5 + i, col: 9, message: `${BIND}: ${src} is a path on the host` });
      expect(p.hint).toBe("use a named volume declared under top-level volumes:, e.g. data:/var/lib/app");
    });
  });

  it("refuses a variable that expands to a path, and says so", () => {
    const ps = reject(web("volumes:\n  - ${SRC}:/data", TOP), { variables: { SRC: "/home/me" } });
    expect(at(ps, "services.web.volumes[0]").message).toBe(
      `${BIND}: /home/me is a path on the host: the variable in "\${SRC}:/data" expands to it`,
    );
  });

  it("refuses long syntax type: bind, tmpfs and other types", () => {
    const ps = reject(
      web(
        "volumes:\n  - type: bind\n    source: /srv\n    target: /srv\n  - type: tmpfs\n    target: /tmp\n  - type: npipe\n    source: x\n    target: /y",
        TOP,
      ),
    );
    expect(at(ps, "services.web.volumes[0].type")).toMatchObject({
      line: 5,
      message: `${BIND}: /srv is a path on the host`,
    });
    expect(at(ps, "services.web.volumes[1].type").message).toBe("mount type tmpfs is not supported");
    expect(at(ps, "services.web.volumes[2].type").message).toBe("mount type npipe is not supported");
  });

  it("refuses anonymous and undeclared volumes, bad targets, modes and duplicates", () => {
    const ps = reject(
      web(
        "volumes:\n  - /data\n  - nope:/n\n  - data:relative\n  - data:/m:z\n  - data:/dup\n  - cache:/dup",
        TOP,
      ),
    );
    expect(at(ps, "services.web.volumes[0]").message).toBe(
      "anonymous volumes are not supported: /data has no volume name",
    );
    expect(at(ps, "services.web.volumes[1]")).toMatchObject({
      message: "volume nope is not declared under top-level volumes:",
      hint: "add it: volumes: { nope: {} } at the top level",
    });
    expect(at(ps, "services.web.volumes[2]").message).toContain("must be an absolute path in the container");
    expect(at(ps, "services.web.volumes[3]").message).toBe('volume mode "z" is not supported');
    expect(at(ps, "services.web.volumes[5]").message).toBe("two volumes are mounted at /dup");
  });

  it("refuses subpaths that leave the volume", () => {
    const ps = reject(
      web(
        "volumes:\n  - type: volume\n    source: data\n    target: /x\n    volume: { subpath: ../up }",
        TOP,
      ),
    );
    expect(at(ps, "services.web.volumes[0].volume.subpath").message).toContain(
      "relative path inside the volume",
    );
  });

  it("splits short syntax keeping Windows drive letters", () => {
    expect(splitShort("C:\\x:/y:ro")).toEqual(["C:\\x", "/y", "ro"]);
    expect(splitShort("data:/y")).toEqual(["data", "/y"]);
  });
});
