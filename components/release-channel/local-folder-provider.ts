// Dynamic provider for a release channel kept in a folder (the local target). It owns the
// folder it creates: delete removes it only when berth's marker file is inside, so a path
// edited by hand in state can never make it remove someone else's folder.
import type * as pulumi from "@pulumi/pulumi";

export const LOCAL_FOLDER_PROVIDER_VERSION = "1";

export interface LocalFolderInputs {
  path: string;
  berthKind: string;
  berthProviderVersion: string;
}

export const localFolderProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: LocalFolderInputs, news: LocalFolderInputs) {
    const path = require("node:path") as typeof import("node:path");
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (typeof news.path !== "string" || !path.isAbsolute(news.path)) {
      failures.push({
        property: "path",
        reason: `must be an absolute path, got ${JSON.stringify(news.path)}`,
      });
    }
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: LocalFolderInputs, news: LocalFolderInputs) {
    const replaces = olds.path !== news.path ? ["path"] : [];
    const changes = replaces.length > 0 || olds.berthProviderVersion !== news.berthProviderVersion;
    return { changes, replaces, deleteBeforeReplace: false };
  },

  async create(inputs: LocalFolderInputs) {
    const fs = require("node:fs") as typeof import("node:fs");
    const path = require("node:path") as typeof import("node:path");
    fs.mkdirSync(inputs.path, { recursive: true, mode: 0o700 });
    const marker = path.join(inputs.path, ".berth-channel.json");
    fs.writeFileSync(marker, `${JSON.stringify({ formatVersion: 1, kind: inputs.berthKind })}\n`);
    return { id: inputs.path, outs: { ...inputs, url: `file://${inputs.path}` } };
  },

  async update(_id: string, _olds: LocalFolderInputs, news: LocalFolderInputs) {
    return { outs: { ...news, url: `file://${news.path}` } };
  },

  async delete(id: string) {
    const fs = require("node:fs") as typeof import("node:fs");
    const path = require("node:path") as typeof import("node:path");
    if (fs.existsSync(path.join(id, ".berth-channel.json"))) fs.rmSync(id, { recursive: true, force: true });
  },
};
