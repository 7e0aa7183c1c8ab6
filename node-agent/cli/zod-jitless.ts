// Imported by the agent's entry before any schema is built: zod decides at a schema's
// construction whether it will compile a fast path (new Function, its source and code kept for
// as long as the daemon runs). The agent parses a few documents per poll, so memory matters
// more than their parse time (docs/benchmarks.md, the idle agent).
import * as z from "zod";

z.config({ jitless: true });
