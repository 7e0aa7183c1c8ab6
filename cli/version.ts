// berth's version: the package's, bundled into dist/berth.js by esbuild.
import pkg from "../package.json";

export const version: string = pkg.version;
