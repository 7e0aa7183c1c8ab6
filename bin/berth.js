#!/usr/bin/env node
// The berth CLI, bundled to one file by `npm run build` (scripts/build.sh).
require("../dist/berth.js");
