// The system project's global setup: the bundles (dist/berth-agent.js, dist/berth.js, the provider
// runtime) built once, before any system test file starts, so that files running side by side
// never rebuild them under each other and none runs against a stale bundle.
import { join } from "node:path";
import { run } from "../../../lib/process";

export default async function buildOnce(): Promise<void> {
  await run("bash", [join(__dirname, "..", "..", "..", "scripts", "build.sh")], { timeoutMs: 300_000 });
}
