// After a crash, or after containers were stopped and started again: the proxy is pointed at
// what the current release's containers publish now, and containers of releases that never
// finished are removed.
import { tlsBundlesFromSecrets } from "../../contract/release/tls";
import type { Logger } from "../../lib/log";
import { projectsOf, routeKeys } from "../apply/apply";
import { strayContainers } from "../apply/placement";
import { replicasOf } from "../apply/plan";
import type { ProxyControl } from "../apply/proxy-control";
import * as compose from "../compose/commands";
import { enginePortLookup } from "../compose/published-port";
import { type DockerRunner, engineSocket } from "../docker";
import type { Release } from "../state/release";
import type { ReleaseStore } from "../state/release-store";
import { isSwarmStack } from "../swarm/release";

export interface RecoveryDeps {
  docker: DockerRunner;
  proxy: ProxyControl;
  store: (env: string) => ReleaseStore;
  unseal: (release: Release) => Record<string, string>;
  log: Logger;
}

export class Recovery {
  constructor(private readonly d: RecoveryDeps) {}

  /**
   * After a crash: removes containers of release projects other than the current one (a half
   * started release), and points the proxy back at the current release.
   */
  async recover(env: string): Promise<void> {
    const store = this.d.store(env);
    const current = store.current();
    const ps = await this.d.docker(compose.containersOfEnvironment(env));
    const stray = strayContainers(
      env,
      current === undefined ? undefined : projectsOf(store, current),
      ps.stdout,
    );
    await this.repointProxy(env);
    if (stray.length > 0) {
      this.d.log.warn(
        { environment: env, containers: stray.length },
        "removing containers of an unfinished release",
      );
      await this.d.docker(compose.removeContainers(stray));
    }
  }

  /**
   * Points the proxy at the ports the current release's containers publish now (a container
   * that was stopped and started again, by a crash or a backup hook, got new host ports).
   */
  async repointProxy(env: string): Promise<void> {
    const store = this.d.store(env);
    const current = store.current();
    if (current === undefined) return;
    // A Swarm stack: Swarm keeps its tasks running; there are no published ports to point at.
    if (isSwarmStack(store.readCompose(current))) return;
    const release = store.release(current);
    const projects = projectsOf(store, current);
    const file = store.composePath(current);
    const routes = routeKeys(env, release.payload, release.extras);
    await this.d.proxy.ensureRoutes(routes);
    await this.d.proxy.installCertificates(env, tlsBundlesFromSecrets(this.d.unseal(release)));
    // The Engine API where it is on a Unix socket: no Compose process, and no Compose file to
    // interpolate (whose secrets this path does not have).
    const lookup = enginePortLookup(engineSocket(this.d.docker));
    for (const [i, r] of release.payload.routes.entries()) {
      const n = replicasOf(release.extras, r.service);
      const upstreams = [];
      const project = projects[r.service] as string;
      for (let index = 1; index <= n; index++) {
        if (lookup) {
          const u = await lookup(project, r.service, r.port, index).catch(() => undefined);
          if (u) upstreams.push(u);
          continue;
        }
        const out = await this.d.docker(
          compose.port({ project, file }, r.service, r.port, n > 1 ? index : undefined),
          { allowFailure: true },
        );
        if (out.exitCode === 0) upstreams.push(compose.parsePortOutput(out.stdout));
      }
      if (upstreams.length === 0) continue;
      await this.d.proxy.switchRoute(routes[i] as (typeof routes)[number], upstreams);
    }
  }
}
