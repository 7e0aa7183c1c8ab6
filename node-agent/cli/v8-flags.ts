// Imported first by the agent's entry, before anything allocates. V8 otherwise grows the young
// generation's semi-spaces up to 16 MB each during an apply's bursts of garbage and keeps them:
// on the local stack the idle agent then held 86 MB resident instead of ~57 MB (bench:local).
// --optimize-for-size keeps them small; the agent waits on Docker, not on its own CPU.
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--optimize-for-size");
