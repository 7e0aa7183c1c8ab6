import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("top-level volumes", () => {
  it("accepts named volumes with the local driver and labels", () => {
    const r = accept(
      web(
        "",
        "volumes:\n  data:\n  cache: {}\n  logs:\n    driver: local\n    labels: { com.example.backup: daily }\n",
      ),
    );
    expect(r.manifest.volumes).toEqual({
      data: { labels: {} },
      cache: { labels: {} },
      logs: { labels: { "com.example.backup": "daily" } },
    });
  });

  it("refuses external volumes, other drivers, driver_opts and names", () => {
    const ps = reject(
      web(
        "",
        "volumes:\n  a: { external: true }\n  b: { driver: nfs }\n  c:\n    driver_opts: { type: none, o: bind, device: /srv }\n  d: { name: shared }\n  'bad name': {}\n",
      ),
    );
    expect(at(ps, "volumes.a.external")).toMatchObject({
      line: 6,
      message: expect.stringContaining("external volumes are not allowed"),
    });
    expect(at(ps, "volumes.b.driver").message).toBe(
      'volume driver "nfs" is not allowed: only the local driver',
    );
    expect(at(ps, "volumes.c.driver_opts").message).toContain("can turn a volume into a bind mount");
    expect(at(ps, "volumes.d.name").message).toContain("berth names volumes per environment");
    expect(at(ps, 'volumes["bad name"]').message).toBe('"bad name" is not a valid volume name');
  });
});

describe("top-level keys", () => {
  it("warns about version and name, which are ignored", () => {
    const r = accept(`version: "3.8"\nname: shop\n${web("")}`);
    expect(r.warnings.map((w) => [w.path, w.message])).toEqual([
      ["version", "version is obsolete and ignored"],
      ["name", "name is ignored: berth names the project after the environment"],
    ]);
  });

  it("keeps other x- extensions, and refuses unknown berth ones", () => {
    const r = accept(`x-team: { owner: me }\n${web("")}`);
    expect(r.manifest.extensions).toEqual({ "x-team": { owner: "me" } });
    const p = at(reject(`x-berth-route: []\n${web("")}`), "x-berth-route");
    expect(p).toMatchObject({
      line: 1,
      message: "unknown berth extension x-berth-route",
      hint: 'did you mean "x-berth-routes"?',
    });
  });

  it("refuses unknown top-level keys, suggesting the nearest", () => {
    const ps = reject(`secrets: {}\nconfigs: {}\nservice: {}\n${web("")}`);
    expect(ps.map((p) => p.path)).toEqual(["service"]);
    expect(at(ps, "service")).toMatchObject({
      line: 3,
      message: 'unknown top-level key "service"',
      hint: 'did you mean "services"?',
    });
  });

  it("reads include only with the project folder's files, and never from the network", () => {
    const local = at(reject(`include:\n  - path: ./other.yaml\n${web("")}`), "include[0].path");
    expect(local.message).toBe("./other.yaml cannot be read: no project folder was given");
    const remote = at(reject(`include:\n  - oci://docker.io/acme/app:1\n${web("")}`), "include[0]");
    expect(remote.message).toContain(
      "include of a remote file (oci://docker.io/acme/app:1) is not allowed: berth never fetches Compose files from the network",
    );
  });

  it("needs services, at least one, with valid names", () => {
    expect(reject("volumes: {}\n")[0]?.message).toBe("there is no services: key");
    expect(reject("services:\n")[0]?.message).toBe("services is empty");
    expect(reject("services: {}\n")[0]?.message).toBe("services is empty");
    expect(reject("services: []\n")[0]?.message).toBe("services must be a mapping, got a list");
    expect(at(reject("services:\n  web:\n"), "services.web").message).toBe("service web is empty");
    expect(at(reject("services:\n  -bad:\n    image: x\n"), "services.-bad").message).toContain(
      "is not a valid service name",
    );
    expect(at(reject("services:\n  web: nginx\n"), "services.web").message).toContain("must be a mapping");
  });
});
