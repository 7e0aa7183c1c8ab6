// The node's HAProxy under systemd: its own unit, `berth-haproxy.service`, beside the agent's.
// The agent writes the configuration and drives the running proxy through its admin socket; the
// unit runs it in master-worker mode (`-Ws`: the master tells systemd when the workers are
// ready, and re-executes itself on SIGUSR2), so HAProxy lives in its own control group and
// outlives any agent restart, and its output (one line per request) goes to the journal, which
// rotates it. The master stays root to bind ports 80 and 443 and read the certificates; the
// workers, which serve the traffic, run as the `haproxy` user (the configuration's
// `user`/`group`, agent config proxy.user). Cloud-init renders this unit
// (components/deployment-node/cloud-init.ts); the agent (node-agent/proxy/haproxy-control.ts)
// starts and reloads it with systemctl. Pure: the unit is text, tested as data.
import { posix } from "node:path";

export const PROXY_UNIT_NAME = "berth-haproxy.service";
export const PROXY_UNIT_PATH = `/etc/systemd/system/${PROXY_UNIT_NAME}`;

/** The files of the node's proxy in its folder (`<stateRoot>/proxy`). */
export function proxyFiles(dir: string): {
  config: string;
  pidFile: string;
  socket: string;
  serverState: string;
  routes: string;
} {
  return {
    config: posix.join(dir, "haproxy.cfg"),
    pidFile: posix.join(dir, "haproxy.pid"),
    socket: posix.join(dir, "admin.sock"),
    serverState: posix.join(dir, "server-state"),
    routes: posix.join(dir, "routes.json"),
  };
}

export interface HaproxyArgsOptions {
  configPath: string;
  pidFile: string;
  /** "systemd": `-Ws` (notify the service manager when ready); "foreground": `-W -db`. */
  mode: "systemd" | "foreground";
}

/** haproxy's command line (pure). */
export function haproxyArgs(o: HaproxyArgsOptions): string[] {
  const mode = o.mode === "systemd" ? ["-Ws"] : ["-W", "-db"];
  return [...mode, "-f", o.configPath, "-p", o.pidFile];
}

/** The unit of the node's HAProxy, for the proxy folder `dir` (`/var/lib/berth/proxy`). */
export function renderProxyUnit(o: { dir: string; haproxyBin?: string }): string {
  const bin = o.haproxyBin ?? "/usr/sbin/haproxy";
  const f = proxyFiles(o.dir);
  return [
    "[Unit]",
    "Description=berth node proxy (HAProxy; berth-agent writes its configuration and drives it through the runtime API)",
    "Wants=network-online.target",
    "After=network-online.target",
    // Until the agent wrote a configuration there is nothing to serve; after a reboot the last
    // one serves at once, before the agent is back.
    `ConditionPathExists=${f.config}`,
    "",
    "[Service]",
    "Type=notify",
    `ExecStartPre=${bin} -c -q -f ${f.config}`,
    `ExecStart=${bin} ${haproxyArgs({ configPath: f.config, pidFile: f.pidFile, mode: "systemd" }).join(" ")}`,
    // A reload checks the file first: a refused one leaves the running proxy as it is.
    `ExecReload=${bin} -c -q -f ${f.config}`,
    "ExecReload=/bin/kill -USR2 $MAINPID",
    // SIGTERM to the master (hard stop of the workers); the workers get it from the master.
    "KillMode=mixed",
    "Restart=always",
    "RestartSec=2",
    "SuccessExitStatus=143",
    "SyslogIdentifier=berth-haproxy",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
