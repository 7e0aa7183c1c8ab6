// The Docker socket, anywhere: a mount, an environment value, a label, a key. Access to it is root
// on the node, so any mention of docker.sock is refused with its own message.
import type { Path, Problems } from "./problem";
import { mentionsDockerSocket } from "./remote";
import type { YNode } from "./tree";

const MESSAGE = "the Docker socket (docker.sock) is not allowed anywhere: access to it is root on the node";
const HINT = "remove it; berth's node agent is the only thing that talks to Docker";

export function scanDockerSocket(node: YNode, path: Path, problems: Problems): void {
  switch (node.kind) {
    case "scalar":
      if (typeof node.value === "string" && mentionsDockerSocket(node.value))
        problems.error(node.pos, path, MESSAGE, HINT);
      return;
    case "seq":
      for (const [i, it] of node.items.entries()) scanDockerSocket(it, [...path, i], problems);
      return;
    case "map":
      for (const e of node.entries) {
        if (mentionsDockerSocket(e.key)) problems.error(e.keyPos, [...path, e.key], MESSAGE, HINT);
        scanDockerSocket(e.value, [...path, e.key], problems);
      }
      return;
  }
}
