// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("healthcheck", () => {
  it("accepts every field, normalized", () => {
    const r = accept(
      web(
        'healthcheck:\n  test: ["CMD", "curl", "-f", "http://localhost/"]\n  interval: 1m30s\n  timeout: 10s\n  retries: 3\n  start_period: 40s\n  start_interval: 5s',
      ),
    );
    expect(r.manifest.services.web?.healthcheck).toEqual({
      test: ["CMD", "curl", "-f", "http://localhost/"],
      intervalMs: 90_000,
      timeoutMs: 10_000,
      retries: 3,
      startPeriodMs: 40_000,
      startIntervalMs: 5_000,
      disable: false,
    });
  });

  it("turns a string test into CMD-SHELL and accepts interpolated numbers", () => {
    const r = accept(web("healthcheck:\n  test: pg_isready -U app\n  retries: ${R}"), {
      variables: { R: "5" },
    });
    expect(r.manifest.services.web?.healthcheck).toEqual({
      test: ["CMD-SHELL", "pg_isready -U app"],
      retries: 5,
      disable: false,
    });
  });

  it("normalizes disabling: disable: true and test: [NONE]", () => {
    expect(accept(web("healthcheck:\n  disable: true")).manifest.services.web?.healthcheck).toEqual({
      test: ["NONE"],
      disable: true,
    });
    expect(accept(web("healthcheck:\n  test: [NONE]")).manifest.services.web?.healthcheck).toEqual({
      test: ["NONE"],
      disable: true,
    });
  });

  it("refuses bad tests, durations, retries and unknown fields", () => {
    const ps = reject(
      web(
        "healthcheck:\n  test: [curl, x]\n  interval: 10\n  timeout: soon\n  retries: -1\n  start_periode: 1s\n  disable: maybe",
      ),
    );
    expect(at(ps, "services.web.healthcheck.test")).toMatchObject({
      line: 5,
      message: 'healthcheck test ["curl","x"] is not valid',
    });
    expect(at(ps, "services.web.healthcheck.interval").message).toBe(
      'interval: "10" has no unit (write 10s for seconds, or ms, m, h)',
    );
    expect(at(ps, "services.web.healthcheck.timeout").message).toBe('timeout: "soon" is not a duration');
    expect(at(ps, "services.web.healthcheck.retries").message).toBe(
      "retries must be between 0 and 1000000, got -1",
    );
    expect(at(ps, "services.web.healthcheck.start_periode").hint).toBe('did you mean "start_period"?');
    expect(at(ps, "services.web.healthcheck.disable").message).toContain("must be true or false");
    expect(at(reject(web("healthcheck:\n  test: []")), "services.web.healthcheck.test").message).toContain(
      "is not valid",
    );
    expect(at(reject(web("healthcheck: yes")), "services.web.healthcheck").message).toContain(
      "must be a mapping",
    );
  });
});
