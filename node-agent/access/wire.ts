// The daemon's access endpoint, put together: the server on its socket, the policies from what
// the program signed, the nonce cache and session log on disk, the handlers of each action.
import { join } from "node:path";
import type { ChannelStore } from "../../contract/channel/store";
import { DEFAULT_UPLOAD_ABANDON_SECONDS } from "../../contract/node/agent-config";
import type { Logger } from "../../lib/log";
import { appHandlers } from "./app-handlers";
import { runHandler } from "./app-run";
import { NonceCache } from "./nonce-cache";
import { type PolicySources, policyLookup } from "./policies";
import { AccessServer } from "./server";
import { SessionLog } from "./session-log";
import { UploadLeftovers } from "./upload-leftovers";
import { leftoverCleaner, type WorkspaceLifecycleHooks, workspaceHandlers } from "./workspace-handlers";

/** The socket HAProxy forwards /.berth/access/ to (mode 600, in the state folder). */
export function accessSocketPath(stateRoot: string): string {
  return join(stateRoot, "access", "agent.sock");
}

export interface AccessWiring {
  nodeId: string;
  stateRoot: string;
  channel?: ChannelStore;
  log: Logger;
  workspace?: PolicySources["workspace"];
  /** The node's X25519 private key (`run` unseals the release's secrets with it). */
  nodePrivateKey: string;
  /** The engine workspaces run on (agent config workspaces.dockerHost). */
  workspaceDockerHost?: string;
  /** The daemon's workspaces: sessions count as their activity, an access wakes a stopped one. */
  workspaceLifecycle?: WorkspaceLifecycleHooks;
  /** Where to listen (agent config proxy.accessSocket); accessSocketPath(stateRoot) by default. */
  socketPath?: string;
  /** The group HAProxy's workers run as, which may connect (AccessServerDeps.socketGroup). */
  socketGroup?: number;
  /** A python3 with os.splice: uploads and downloads are spliced by it (splice-relay.ts). */
  splicePython?: string;
  /**
   * An upload with no part being written for this long is dropped and its file removed (agent
   * config workspaces.uploadAbandonSeconds; upload-leftovers.ts).
   */
  uploadAbandonSeconds?: number;
}

/** How often the journal of uploads is swept for the files of ones that will not finish. */
const LEFTOVER_SWEEP_MS = 10 * 60_000;

export async function startAccess(w: AccessWiring): Promise<{ server: AccessServer; sessions: SessionLog }> {
  const sessions = new SessionLog({
    nodeId: w.nodeId,
    stateRoot: w.stateRoot,
    ...(w.channel ? { channel: w.channel } : {}),
    log: w.log,
  });
  const workspaces = {
    stateRoot: w.stateRoot,
    ...(w.workspaceDockerHost ? { dockerHost: w.workspaceDockerHost } : {}),
  };
  // Uploads that will not finish leave no file (upload-leftovers.ts): those cut in this agent's
  // life, and those a killed agent left (the journal, swept now and every few minutes).
  const leftovers = w.splicePython
    ? new UploadLeftovers({
        journalDir: join(w.stateRoot, "access", "uploads"),
        abandonMs: (w.uploadAbandonSeconds ?? DEFAULT_UPLOAD_ABANDON_SECONDS) * 1000,
        clean: leftoverCleaner({ ...workspaces, splicePython: w.splicePython }),
        log: w.log,
      })
    : undefined;
  const server = new AccessServer({
    nodeId: w.nodeId,
    socketPath: w.socketPath ?? accessSocketPath(w.stateRoot),
    ...(w.socketGroup !== undefined ? { socketGroup: w.socketGroup } : {}),
    policy: policyLookup({ stateRoot: w.stateRoot, ...(w.workspace ? { workspace: w.workspace } : {}) }),
    handlers: {
      ...appHandlers(),
      run: runHandler({ stateRoot: w.stateRoot, nodePrivateKey: w.nodePrivateKey }),
      ...workspaceHandlers({
        ...workspaces,
        ...(w.workspaceLifecycle ? { lifecycle: w.workspaceLifecycle } : {}),
        ...(w.splicePython ? { splicePython: w.splicePython } : {}),
        ...(leftovers ? { leftovers } : {}),
      }),
    },
    nonces: new NonceCache({ file: join(w.stateRoot, "access", "nonces.json") }),
    sessions,
    log: w.log,
  });
  await server.start();
  if (leftovers) {
    void leftovers.sweep();
    setInterval(() => void leftovers.sweep(), LEFTOVER_SWEEP_MS).unref();
  }
  return { server, sessions };
}
