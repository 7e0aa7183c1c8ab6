import { describe, expect, it } from "vitest";
import { type ContainerSummary, PortNotPublishedError, publishedPort, serviceLabels } from "./published-port";

const c = (
  n: number,
  ports: ContainerSummary["Ports"],
  more: Partial<ContainerSummary> = {},
): ContainerSummary => ({
  Labels: { "com.docker.compose.container-number": String(n), "com.docker.compose.oneoff": "False" },
  State: "running",
  Ports: ports,
  ...more,
});

describe("publishedPort (what `docker compose port` prints, from the Engine API's list)", () => {
  it("the IPv4 binding of the container port, 0.0.0.0 read as the loopback", () => {
    const list = [
      c(1, [
        { IP: "::", PrivatePort: 8080, PublicPort: 32769, Type: "tcp" },
        { IP: "0.0.0.0", PrivatePort: 8080, PublicPort: 32768, Type: "tcp" },
        { PrivatePort: 9090, Type: "tcp" },
      ]),
    ];
    expect(publishedPort(list, 8080)).toEqual({ host: "127.0.0.1", port: 32768 });
  });

  it("a binding to one address keeps it; an IPv6-only one is used when it is all there is", () => {
    expect(publishedPort([c(1, [{ IP: "127.0.0.1", PrivatePort: 80, PublicPort: 41000 }])], 80)).toEqual({
      host: "127.0.0.1",
      port: 41000,
    });
    expect(publishedPort([c(1, [{ IP: "::", PrivatePort: 80, PublicPort: 41001 }])], 80)).toEqual({
      host: "::1",
      port: 41001,
    });
  });

  it("the replica by its container number (--index), never a one-off or a stopped container", () => {
    const list = [
      c(2, [{ IP: "0.0.0.0", PrivatePort: 80, PublicPort: 2002 }]),
      c(1, [{ IP: "0.0.0.0", PrivatePort: 80, PublicPort: 3001 }], {
        Labels: { "com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "True" },
      }),
      c(1, [{ IP: "0.0.0.0", PrivatePort: 80, PublicPort: 2001 }]),
    ];
    expect(publishedPort(list, 80, 2).port).toBe(2002);
    expect(publishedPort(list, 80).port).toBe(2001);
    expect(() => publishedPort([c(1, [], { State: "exited" })], 80)).toThrow(PortNotPublishedError);
  });

  it("no container yet, or the port not published (yet): an error the probes retry on", () => {
    expect(() => publishedPort([], 80)).toThrow(/no running container number 1/);
    expect(() => publishedPort([c(1, [{ PrivatePort: 80, Type: "tcp" }])], 80)).toThrow(/not published/);
    expect(() =>
      publishedPort([c(1, [{ IP: "0.0.0.0", PrivatePort: 80, PublicPort: 5, Type: "udp" }])], 80),
    ).toThrow(/not published/);
  });

  it("lists a project's service by Compose's labels", () => {
    expect(serviceLabels("acme-prod-r7", "web")).toEqual([
      "com.docker.compose.project=acme-prod-r7",
      "com.docker.compose.service=web",
    ]);
  });
});
