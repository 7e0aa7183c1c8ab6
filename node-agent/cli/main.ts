// berth-agent: the node agent's daemon and CLI.
//   berth-agent run      [--config FILE]          the daemon (what the systemd unit runs)
//   berth-agent status   [--config FILE]          what runs here, per environment
//   berth-agent apply    ENV [--config FILE]      converge ENV to its desired release now
//   berth-agent rollback ENV [--config FILE]      go back to the previous applied release
//   berth-agent keys     [--config FILE]          print the node's public key (made if missing)
//   berth-agent workspace up|build|status|switch|down [ID]  devcontainer workspaces (cli/workspace.ts)
//   berth-agent backup   ENV [--volume V]         back ENV's volumes up now
//   berth-agent snapshots ENV                     list ENV's snapshots
//   berth-agent prune    ENV / check ENV          retention now / repository check now
//   berth-agent restore  ENV [--snapshot ID] [--volume V] [--force]
import { type ChildProcess, fork } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import { desiredPointer } from "../../contract/channel/status";
import type { ChannelStore } from "../../contract/channel/store";
import { AGENT_ENVIRONMENT } from "../../contract/node/agent-process";
import { humanBytes, humanDuration } from "../../lib/format";
import { groupId } from "../../lib/groups";
import { createLogger, registerSecret, scrubSecrets } from "../../lib/log";
import { blockMetadataService } from "../../lib/metadata-block";
import { run } from "../../lib/process";
import { findSplicePython, NODE_PYTHON } from "../access/splice-relay";
import { accessSocketPath, startAccess } from "../access/wire";
import { Agent, type AgentDeps } from "../agent";
import { describeError } from "../apply/apply";
import type { ResticProgressListener } from "../backup/backups";
import { watchFolderChannel } from "../channel-watch";
import { type AgentConfig, AgentConfigError, loadAgentConfig } from "../config";
import { APPLY_CHILD_COMMAND, ApplyChildren, ackedPoster, childStatusSink } from "../converge/apply-child";
import { dockerRunner } from "../docker";
import { loadOrCreateNodeKeys, loadOrCreateStatusKey } from "../node-keys";
import { HaproxyControl } from "../proxy/haproxy-control";
import { startWatchdog } from "../systemd-watchdog";
import { TrustStore } from "../trust/trust-store";
import { AgentChanges } from "../upgrade/agent-changes";
import { restartMode } from "../upgrade/handover";
import { watchTrial } from "../upgrade/watchdog";
import { AGENT_VERSION } from "../version";
import { ACTIVITY_FILE, PersistedActivity } from "../workspace/activity-file";
import { WorkspaceBackups } from "../workspace/backup";
import { WorkspaceExecutor } from "../workspace/executor";
import { WorkspaceSync } from "../workspace/sync";
import { terminalProgress } from "./progress";
import {
  executorOptions,
  WORKSPACE_USAGE,
  WorkspaceUsageError,
  workspaceCommand,
  workspaceOptions,
} from "./workspace";

const USAGE = `usage: berth-agent COMMAND [--config FILE]

commands:
  run              poll the release channel and apply releases (the daemon)
  status           show each environment's current release and last outcome
  apply ENV        converge ENV to its desired release now
  rollback ENV     return ENV to the previous release that applied
  keys             print this node's public key (creating the key pair if needed)
  workspace up|build|status|switch|down [ID]
                   devcontainer workspaces (berth-agent workspace --help)
  backup ENV       back ENV's volumes up now (--volume V: only that one)
  snapshots ENV    list ENV's snapshots in its backup repository
  prune ENV        apply ENV's retention now (restic forget --prune)
  check ENV        check ENV's backup repository now (restic check)
  restore ENV      restore ENV's volumes from their newest snapshots (--snapshot ID: that
                   snapshot; --volume V: only that volume). A volume whose data is newer than
                   the snapshot is kept unless --force is given
  version          print the agent's version (also --version)
  upgrade-watch    (started by the agent itself) hold a new agent to its report deadline and
                   put the previous one back when it misses it (node-agent/upgrade/)
  apply-child ENV SEQ [--recover]
                   (started by the daemon) one apply, in a process of its own; its statuses
                   go to the daemon (node-agent/converge/apply-child.ts)

options:
  --config FILE    the agent's config (default /etc/berth/agent.json, or $BERTH_AGENT_CONFIG)
  --json           status, workspace status: JSON instead of lines
  --help           this text`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function channelFor(config: AgentConfig): ChannelStore {
  const ch = config.channel;
  if (ch.kind === "folder") return new FolderChannelStore(ch.path);
  let secretAccessKey: string;
  try {
    secretAccessKey = readFileSync(ch.secretAccessKeyFile, "utf8").trim();
  } catch (e) {
    throw new AgentConfigError(
      `channel.secretAccessKeyFile: cannot read ${ch.secretAccessKeyFile} (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  if (secretAccessKey === "")
    throw new AgentConfigError(`channel.secretAccessKeyFile: ${ch.secretAccessKeyFile} is empty`);
  registerSecret(secretAccessKey);
  return new S3ChannelStore({
    endpoint: ch.endpoint,
    bucket: ch.bucket,
    region: ch.region,
    prefix: ch.prefix,
    accessKeyId: ch.accessKeyId,
    secretAccessKey,
  });
}

function makeAgent(
  config: AgentConfig,
  run?: { configFile: string; bundlePath: string },
  resticProgress?: ResticProgressListener,
  daemon = false,
  more: { logToStdout?: boolean } & Pick<AgentDeps, "convergeVia" | "statusSink"> = {},
) {
  // The daemon and its applies' children log to stdout (the journal); a one-shot command keeps
  // stdout for its output.
  const { logToStdout, ...deps } = more;
  const log = run || logToStdout ? createLogger("berth-agent") : createLogger("berth-agent", process.stderr);
  // One trust for releases and workspaces: an accepted trust set changes both at once.
  const trust = new TrustStore({ stateRoot: config.stateRoot, config, channel: channelFor(config), log });
  const proxy = new HaproxyControl({
    dir: `${config.stateRoot}/proxy`,
    bind: config.proxy.bind,
    log,
    drainSeconds: Math.max(5, config.drainSeconds),
    ...(config.proxy.tls ? { tls: config.proxy.tls } : {}),
    accessSocket: config.proxy.accessSocket ?? accessSocketPath(config.stateRoot),
    ...(config.proxy.unit ? { unit: config.proxy.unit } : {}),
    ...(config.proxy.user ? { user: config.proxy.user } : {}),
  });
  const crashAt = process.env.BERTH_AGENT_FAULT_KILL_AT;
  const crashApplyAt = deps.statusSink ? process.env.BERTH_AGENT_FAULT_KILL_APPLY_AT : undefined;
  // The daemon keeps the workspaces' last activity across restarts (a one-shot command has none).
  const activity = daemon
    ? new PersistedActivity({ path: join(config.stateRoot, ACTIVITY_FILE), log })
    : undefined;
  const workspaces = new WorkspaceSync({
    ...(activity ? { activity: activity.activity } : {}),
    channel: channelFor(config),
    nodeId: config.nodeId,
    trustedKeys: trust.keys,
    nodePrivateKey: loadOrCreateNodeKeys(config.stateRoot).privateKey,
    stateRoot: config.stateRoot,
    executor: (report) => new WorkspaceExecutor({ ...executorOptions(config), log, report }),
    log,
    backups: new WorkspaceBackups({
      stateRoot: config.stateRoot,
      docker: dockerRunner(config.workspaces.dockerHost ? { dockerHost: config.workspaces.dockerHost } : {}),
      log,
      resticPath: config.resticPath,
    }),
  });
  const agent = new Agent({
    config,
    channel: channelFor(config),
    ...(config.channel.kind === "folder"
      ? { changes: watchFolderChannel(config.channel.path, config.nodeId, log) }
      : {}),
    docker: dockerRunner(),
    proxy,
    log,
    workspaces,
    trust,
    // Only the daemon upgrades itself: it knows the file it runs and its config file.
    ...(run ?? {}),
    ...(resticProgress ? { resticProgress } : {}),
    // Fault injection for the crash-safety tests: SIGKILL the agent at the named apply step (in
    // an apply's child, its daemon too: the whole agent dies), or only the apply's child.
    // A node whose restores cannot exchange two folders in one step (backup/swap.ts): two renames.
    ...(process.env.BERTH_AGENT_FAULT_NO_RENAME_EXCHANGE ? { exchange: async () => {} } : {}),
    ...(crashAt || crashApplyAt
      ? {
          onStep: (step: string) => {
            if (step === crashAt && deps.statusSink) process.kill(process.ppid, "SIGKILL");
            if (step === crashAt) process.kill(process.pid, "SIGKILL");
            // The apply's child alone, once: the next child recovers and applies.
            if (step === crashApplyAt && !existsSync(`${config.stateRoot}/fault-killed-apply`)) {
              writeFileSync(`${config.stateRoot}/fault-killed-apply`, `${step}\n`);
              process.kill(process.pid, "SIGKILL");
            }
          },
        }
      : {}),
    ...deps,
  });
  return { agent, log, proxy, workspaces, activity };
}

export async function main(argv: string[], given: Io): Promise<number> {
  // What the agent prints may quote a command's output (a failing hook's): no secret it knows.
  const io: Io = {
    ...given,
    out: (s) => given.out(scrubSecrets(s)),
    err: (s) => given.err(scrubSecrets(s)),
  };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        help: { type: "boolean" },
        version: { type: "boolean" },
        json: { type: "boolean" },
        ...workspaceOptions,
        volume: { type: "string", multiple: true },
        snapshot: { type: "string" },
        force: { type: "boolean" },
        recover: { type: "boolean" },
      },
    });
  } catch (e) {
    io.err(`berth-agent: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, env] = parsed.positionals;
  if (command === "workspace" && parsed.values.help) {
    io.out(WORKSPACE_USAGE);
    return 0;
  }
  if (parsed.values.help || (!command && !parsed.values.version)) {
    io.out(USAGE);
    return command || parsed.values.help ? 0 : 2;
  }
  if (command === "version" || parsed.values.version) {
    io.out(AGENT_VERSION);
    return 0;
  }
  const configFile =
    (parsed.values.config as string | undefined) ?? process.env.BERTH_AGENT_CONFIG ?? "/etc/berth/agent.json";
  try {
    const config = loadAgentConfig(configFile);
    if (command === "upgrade-watch") {
      // The watchdog of an agent upgrade (node-agent/upgrade/watchdog.ts), from the old bundle.
      const log = createLogger("berth-agent-watchdog");
      // The status it writes is the previous agent's (this bundle's version), signed as every status.
      const report = async () => {
        const changes = new AgentChanges({
          config,
          channel: channelFor(config),
          log,
          statusPrivateKey: loadOrCreateStatusKey(config.stateRoot).privateKey,
          configFile,
          bundlePath: config.upgrade.bundlePath ?? __filename,
        });
        return changes.report();
      };
      const r = await watchTrial({
        stateRoot: config.stateRoot,
        configFile,
        mode: restartMode(config.upgrade.restart),
        log,
        report,
      });
      io.out(`upgrade: ${r.outcome}${r.reason ? `: ${r.reason}` : ""}`);
      return 0;
    }
    if (command === APPLY_CHILD_COMMAND)
      return await applyChild(config, env, parsed.positionals[2], parsed.values.recover === true);
    // The bundle this process runs (in the bundled agent, this module's file is the bundle; run
    // from source there is none, and the agent does not upgrade itself).
    const bundlePath = __filename.endsWith(".js") ? __filename : undefined;
    // restic's progress of `backup` and `restore`, on stderr when it is a terminal.
    const progress =
      command === "backup" || command === "restore" ? terminalProgress(process.stderr) : undefined;
    // The daemon applies each release in a child process of its bundle (converge/apply-child.ts).
    let children: ApplyChildren | undefined;
    const { agent, log, workspaces, proxy, activity } = makeAgent(
      config,
      command === "run" && bundlePath ? { configFile: resolve(configFile), bundlePath } : undefined,
      progress?.listener,
      command === "run",
      command === "run" && bundlePath ? { convergeVia: async (e, seq) => children?.converge(e, seq) } : {},
    );
    if (command === "run" && bundlePath)
      children = new ApplyChildren({
        nodeId: config.nodeId,
        channel: channelFor(config),
        store: (e) => agent.store(e),
        log,
        start: (e, seq, recover) => startApplyChild(bundlePath, resolve(configFile), e, seq, recover),
        report: (s) => agent.report(s),
        reportBackup: (e) => agent.reportBackup(e),
      });
    switch (command) {
      case "run": {
        const ac = new AbortController();
        for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => ac.abort());
        log.info({ node: config.nodeId, version: AGENT_VERSION }, "agent starting");
        // Who the node is goes out first: a node made anew gets its release sealed to these keys
        // while its proxy and access endpoint start (start() publishes it if this failed).
        await agent
          .publishIdentity()
          .catch((e) => log.warn({ err: describeError(e) }, "could not publish the identity yet"));
        const splicePython = await findSplicePython();
        if (!splicePython)
          log.warn(
            { python: NODE_PYTHON },
            "no python3 with os.splice: workspace files are copied in sessions, through cat in the container (slower)",
          );
        const access = await startAccess({
          nodeId: config.nodeId,
          stateRoot: config.stateRoot,
          channel: channelFor(config),
          nodePrivateKey: loadOrCreateNodeKeys(config.stateRoot).privateKey,
          log,
          // A workspace's operators come from its verified declaration (generation floor kept).
          workspace: async (id) => {
            const d = await workspaces.declaration(id);
            return d ? (d.access ?? { operators: [], commands: true }) : undefined;
          },
          ...(config.workspaces.dockerHost ? { workspaceDockerHost: config.workspaces.dockerHost } : {}),
          workspaceLifecycle: workspaces,
          ...(config.proxy.accessSocket ? { socketPath: config.proxy.accessSocket } : {}),
          ...(config.proxy.user ? { socketGroup: groupId(config.proxy.user) } : {}),
          // Files in and out of workspaces are spliced by the node's Python when it has os.splice,
          // as the workspace's remote user (node-agent/access/splice-relay.ts).
          ...(splicePython ? { splicePython } : {}),
          uploadAbandonSeconds: config.workspaces.uploadAbandonSeconds,
        });
        // The proxy serves the access endpoint even before (or without) any environment's route.
        await proxy
          .start()
          .catch((e) =>
            log.error(
              { err: describeError(e) },
              "the proxy did not start: the access endpoint is unreachable",
            ),
          );
        // No container on the node reaches the cloud metadata service (lib/metadata-block.ts).
        await blockMetadataService((c) =>
          run(c.file, c.args, { allowFailure: true, timeoutMs: 30_000 }),
        ).then(
          (added) => added && log.info("the metadata service is blocked for every container (DOCKER-USER)"),
          (e: Error) => log.warn({ err: e.message }, "could not block the metadata service for containers"),
        );
        const stopWatchdog = startWatchdog(log);
        try {
          await agent.run(ac.signal);
        } catch (e) {
          // An agent on trial that cannot run says why, for the watchdog's report.
          agent.changes.upgrader?.noteTrialFailure(describeError(e));
          throw e;
        } finally {
          stopWatchdog();
          activity?.flush();
        }
        log.info(agent.loop.handingOver ? "agent handed over to the new agent" : "agent stopped");
        await access.server.stop();
        return 0;
      }
      case "keys":
        io.out(agent.publicKey);
        return 0;
      case "backup": {
        if (!env) throw new UsageError("backup needs an environment id: berth-agent backup ENV");
        const runs = await agent
          .backupNow(env, parsed.values.volume as string[] | undefined)
          .finally(() => progress?.finish());
        for (const { volume, run } of runs) {
          io.out(
            run.ok
              ? `${env}/${volume}: snapshot ${run.snapshotId} in ${humanDuration(run.durationMs)}, ${humanBytes(run.bytesAdded ?? 0)} added`
              : `${env}/${volume}: backup failed: ${run.error}`,
          );
        }
        return runs.every((r) => r.run.ok) ? 0 : 1;
      }
      case "prune":
      case "check": {
        if (!env) throw new UsageError(`${command} needs an environment id: berth-agent ${command} ENV`);
        const r = command === "prune" ? await agent.pruneNow(env) : await agent.checkNow(env);
        io.out(`${env}: ${command} ${r.ok ? "ok" : `failed: ${r.error}`} (${humanDuration(r.durationMs)})`);
        return r.ok ? 0 : 1;
      }
      case "snapshots": {
        if (!env) throw new UsageError("snapshots needs an environment id: berth-agent snapshots ENV");
        const list = await agent.snapshots(env);
        io.out(
          list.length === 0
            ? `${env}: no snapshots`
            : list.map((s) => `${s.shortId}\t${s.time}\t${s.volume ?? "?"}`).join("\n"),
        );
        return 0;
      }
      case "restore": {
        if (!env) throw new UsageError("restore needs an environment id: berth-agent restore ENV");
        const vols = parsed.values.volume as string[] | undefined;
        if (vols && vols.length > 1) throw new UsageError("restore takes one --volume");
        const report = await agent
          .restore(env, {
            ...(parsed.values.snapshot ? { snapshot: parsed.values.snapshot as string } : {}),
            ...(vols?.[0] ? { volume: vols[0] } : {}),
            ...(parsed.values.force ? { force: true } : {}),
          })
          .finally(() => progress?.finish());
        for (const v of report.volumes) io.out(`${env}/${v.volume}: ${v.action}: ${v.detail}`);
        return report.volumes.some((v) => v.action === "failed" || v.action === "kept") ? 1 : 0;
      }
      case "status": {
        const envs = agent.localEnvironments().map((e) => {
          const s = agent.store(e);
          const last = s.sequences().at(-1);
          const meta = last !== undefined ? s.readMetadata(last) : undefined;
          return {
            environment: e,
            current: s.current() ?? null,
            last: last ?? null,
            outcome: meta?.outcome ?? "in progress",
            ...(meta?.error ? { error: meta.error } : {}),
            backup: agent.backups.status(e) ?? null,
          };
        });
        if (parsed.values.json) {
          io.out(
            JSON.stringify({ nodeId: config.nodeId, version: AGENT_VERSION, environments: envs }, null, 2),
          );
          return 0;
        }
        const rows = envs.map(({ environment: e, current: cur, last, outcome, error, backup: b }) => {
          const backup = b
            ? `\tbackup=${b.state}${b.volumes
                .map(
                  (v) =>
                    ` ${v.volume}:${v.last ? (v.last.ok ? `ok@${v.last.at}` : `failed@${v.last.at}: ${v.last.error}`) : "never"}${v.missed ? ` (${v.missed} missed)` : ""}`,
                )
                .join("")}`
            : "";
          return `${e}\tcurrent=${cur ?? "none"}\tlast=${last ?? "none"}\t${outcome}${error ? `\t${error}` : ""}${backup}`;
        });
        io.out(rows.length > 0 ? rows.join("\n") : "no environments on this node");
        return 0;
      }
      case "apply": {
        if (!env) throw new UsageError("apply needs an environment id: berth-agent apply ENV");
        await agent.start();
        const text = await channelFor(config).get(channelKeys.desired(config.nodeId, env));
        if (text === undefined)
          throw new UsageError(`the channel names no desired release of ${env} for node ${config.nodeId}`);
        const outcome = await agent.converge(env, desiredPointer.parse(JSON.parse(text)).sequence);
        io.out(
          outcome
            ? `${env}: release ${outcome.sequence} ${outcome.state}${outcome.error ? `: ${outcome.error}` : ""}`
            : `${env}: nothing to do`,
        );
        return outcome && outcome.state !== "applied" ? 1 : 0;
      }
      case "rollback": {
        if (!env) throw new UsageError("rollback needs an environment id: berth-agent rollback ENV");
        const store = agent.store(env);
        const cur = store.current();
        const prev = store
          .sequences()
          .filter((s) => cur !== undefined && s < cur && store.readMetadata(s).outcome === "applied")
          .at(-1);
        if (cur === undefined || prev === undefined)
          throw new UsageError(`${env} has no earlier applied release to return to`);
        const outcome = await agent.reapply(env, store.release(prev));
        io.out(`${env}: back on release ${prev} (${outcome.state})`);
        return outcome.state === "applied" ? 0 : 1;
      }
      case "workspace":
        return await workspaceCommand(
          {
            sub: env,
            id: parsed.positionals[2],
            values: parsed.values as Record<string, string | boolean | undefined>,
          },
          config,
          () => channelFor(config),
          io,
        );
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    }
  } catch (e) {
    io.err(`berth-agent: ${describeError(e)}`);
    return e instanceof UsageError || e instanceof AgentConfigError || e instanceof WorkspaceUsageError
      ? 2
      : 1;
  }
}

class UsageError extends Error {}

/**
 * Starts an apply's child: this bundle, with V8's defaults and glibc's (not the daemon's flags
 * and malloc settings: it is short-lived, and its memory goes back when it exits), and an IPC
 * channel to the daemon. It logs to the daemon's stdout.
 */
function startApplyChild(
  bundlePath: string,
  configFile: string,
  env: string,
  sequence: number,
  recover: boolean,
): ChildProcess {
  const unset = Object.fromEntries(Object.keys(AGENT_ENVIRONMENT).map((k) => [k, undefined]));
  return fork(
    bundlePath,
    [APPLY_CHILD_COMMAND, env, String(sequence), "--config", configFile, ...(recover ? ["--recover"] : [])],
    {
      execArgv: [],
      env: { ...process.env, ...unset, NODE_OPTIONS: undefined },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
}

/**
 * `berth-agent apply-child ENV SEQ [--recover]`: one converge of ENV to release SEQ, started by
 * the daemon (converge/apply-child.ts), its statuses sent to the daemon over the IPC channel.
 */
async function applyChild(
  config: AgentConfig,
  env: string | undefined,
  sequenceText: string | undefined,
  recover: boolean,
): Promise<number> {
  const send = process.send?.bind(process);
  const sequence = Number(sequenceText);
  if (!send || !env || !Number.isSafeInteger(sequence) || sequence <= 0)
    throw new UsageError(
      `${APPLY_CHILD_COMMAND} ENV SEQUENCE is started by the agent's daemon, with an IPC channel to it`,
    );
  const channel = ackedPoster({
    send: (m, callback) => send(m, undefined, {}, callback),
    on: (event, f) => process.on(event, f),
    off: (event, f) => process.off(event, f),
  });
  const post = channel.post;
  // The daemon is gone (killed): the apply stops here, as the whole agent's would have; the next
  // daemon recovers the environment.
  process.once("disconnect", () => process.kill(process.pid, "SIGKILL"));
  // A stop of the node's service reaches every process of it: the apply finishes, and the
  // daemon, which waits for it, stops after it (as with an apply in the daemon's own process).
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => undefined);
  const { agent, log } = makeAgent(config, undefined, undefined, false, {
    logToStdout: true,
    statusSink: childStatusSink(post),
  });
  if (recover)
    await agent
      .recover(env)
      .catch((e) => log.error({ environment: env, err: describeError(e) }, "recovery failed"));
  const outcome = await agent.converge(env, sequence);
  const rejected = agent.converger.rejectedFingerprint(env);
  await post({
    kind: "done",
    ...(outcome ? { state: outcome.state } : {}),
    ...(rejected ? { rejected } : {}),
  });
  channel.close();
  return 0;
}
