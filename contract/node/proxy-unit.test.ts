import { describe, expect, it } from "vitest";
import { haproxyArgs, PROXY_UNIT_NAME, PROXY_UNIT_PATH, proxyFiles, renderProxyUnit } from "./proxy-unit";

describe("haproxyArgs", () => {
  it("runs in the foreground with a master, or notifies systemd with -Ws", () => {
    expect(haproxyArgs({ configPath: "/c", pidFile: "/p", mode: "foreground" })).toEqual([
      "-W",
      "-db",
      "-f",
      "/c",
      "-p",
      "/p",
    ]);
    expect(haproxyArgs({ configPath: "/c", pidFile: "/p", mode: "systemd" })).toEqual([
      "-Ws",
      "-f",
      "/c",
      "-p",
      "/p",
    ]);
  });
});

describe("the proxy's systemd unit", () => {
  const text = renderProxyUnit({ dir: "/var/lib/berth/proxy" });
  const lines = text.split("\n");

  it("is named and placed for systemd", () => {
    expect(PROXY_UNIT_NAME).toBe("berth-haproxy.service");
    expect(PROXY_UNIT_PATH).toBe("/etc/systemd/system/berth-haproxy.service");
  });

  it("runs HAProxy master-worker with systemd notification, on the agent's files", () => {
    const f = proxyFiles("/var/lib/berth/proxy");
    expect(lines).toContain("Type=notify");
    expect(lines).toContain(`ExecStart=/usr/sbin/haproxy -Ws -f ${f.config} -p ${f.pidFile}`);
    expect(lines).toContain(`ConditionPathExists=${f.config}`);
    expect(f).toEqual({
      config: "/var/lib/berth/proxy/haproxy.cfg",
      pidFile: "/var/lib/berth/proxy/haproxy.pid",
      socket: "/var/lib/berth/proxy/admin.sock",
      serverState: "/var/lib/berth/proxy/server-state",
      routes: "/var/lib/berth/proxy/routes.json",
    });
  });

  it("checks the file before it starts and before it signals a reload", () => {
    const check = "/usr/sbin/haproxy -c -q -f /var/lib/berth/proxy/haproxy.cfg";
    expect(lines).toContain(`ExecStartPre=${check}`);
    const reload = lines.filter((l) => l.startsWith("ExecReload="));
    expect(reload).toEqual([`ExecReload=${check}`, "ExecReload=/bin/kill -USR2 $MAINPID"]);
  });

  it("keeps HAProxy in a control group of its own, restarted when it dies, logging to the journal", () => {
    expect(lines).toContain("KillMode=mixed");
    expect(lines).toContain("Restart=always");
    expect(lines).toContain("SyslogIdentifier=berth-haproxy");
    expect(text).not.toMatch(/StandardOutput=(file|append)/);
    expect(lines).toContain("WantedBy=multi-user.target");
  });
});
