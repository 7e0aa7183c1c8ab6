#!/usr/bin/env node
// The node agent, bundled to one file by `npm run build` (scripts/build.sh).
require("../dist/berth-agent.js");
