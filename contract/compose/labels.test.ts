import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("labels", () => {
  it("accepts a map or a list", () => {
    expect(accept(web("labels:\n  com.example.tier: web\n  n: 1")).manifest.services.web?.labels).toEqual({
      "com.example.tier": "web",
      n: "1",
    });
    expect(accept(web("labels:\n  - a=b\n  - flag")).manifest.services.web?.labels).toEqual({
      a: "b",
      flag: "",
    });
  });

  it("refuses the reserved berth. prefix on services, volumes and networks", () => {
    const ps = reject(
      web(
        "labels:\n  berth.service: x",
        "volumes:\n  v:\n    labels: [BERTH.release=1]\nnetworks:\n  n:\n    labels: { berth.environment: e }\n",
      ),
    );
    const p = at(ps, 'services.web.labels["berth.service"]');
    expect(p).toMatchObject({
      line: 5,
      col: 7,
      message: "label berth.service uses the reserved berth. prefix",
    });
    expect(p.hint).toContain("use your own prefix");
    expect(at(ps, "volumes.v.labels[0]").message).toBe("label BERTH.release uses the reserved berth. prefix");
    expect(at(ps, 'networks.n.labels["berth.environment"]').line).toBe(11);
  });

  it("refuses non-string label values", () => {
    expect(at(reject(web("labels:\n  a: [1]")), "services.web.labels.a").message).toBe(
      "label a must be a string",
    );
  });
});
