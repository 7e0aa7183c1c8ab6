// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { at, reject, web } from "./testing";

const MESSAGE = "the Docker socket (docker.sock) is not allowed anywhere: access to it is root on the node";

describe("the Docker socket", () => {
  it("is refused in a mount, with its own message instead of the bind-mount one", () => {
    const ps = reject(web("volumes:\n  - /var/run/docker.sock:/var/run/docker.sock"));
    expect(ps).toEqual([
      expect.objectContaining({ path: "services.web.volumes[0]", line: 5, message: MESSAGE }),
    ]);
    const long = reject(web("volumes:\n  - type: bind\n    source: /run/docker.sock\n    target: /s"));
    expect(long.map((p) => p.message)).toEqual([MESSAGE]);
  });

  it("is refused anywhere else: environment, labels, commands, interpolated values", () => {
    const ps = reject(
      web(
        "environment:\n  DOCKER_HOST: unix:///var/run/docker.sock\nlabels: ['x=${S}']\ncommand: [cat, /var/run/docker.sock]",
      ),
      { variables: { S: "/docker.sock" } },
    );
    expect(at(ps, "services.web.environment.DOCKER_HOST").message).toBe(MESSAGE);
    expect(at(ps, "services.web.labels[0]").message).toBe(MESSAGE);
    expect(at(ps, "services.web.command[1]").message).toBe(MESSAGE);
    expect(at(reject(web("use_api_socket: true")), "services.web.use_api_socket").message).toContain(
      "Docker socket",
    );
  });
});
