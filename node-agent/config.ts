// Reads the agent's configuration file; its shape is contract/node/agent-config.ts.
import { readFileSync } from "node:fs";
import { type AgentConfig, AgentConfigError, parseAgentConfig } from "../contract/node/agent-config";

export { type AgentConfig, AgentConfigError } from "../contract/node/agent-config";

export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AgentConfigError(
      `${file}: cannot read the agent's config (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  return parseAgentConfig(text, file);
}
