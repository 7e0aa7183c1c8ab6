// The Docker socket, anywhere: a mount, an environment value, a label, a key. Access to it is root
// on the node, so any mention of docker.sock is refused with its own message.
import type { Path, Problems } from "./problem";
import { mentionsDockerSocket } from "./remote";
import type { YNode } from "./tree";

const MESSAGE = "the Docker socket (docker.sock) is not allowed anywhere: access to it is root on the node";
const HINT = "remove it; berth's node agent is the only thing that talks to Docker";

export function scanDockerSocket(node: YNode, path: Path, problems: Problems): void {
  // One path array, extended and shortened as the walk goes: copied only for a problem.
  walk(node, [...path], problems);
}

function walk(node: YNode, path: (string | number)[], problems: Problems): void {
  switch (node.kind) {
    case "scalar":
      if (typeof node.value === "string" && mentionsDockerSocket(node.value))
        problems.error(node.pos, [...path], MESSAGE, HINT);
      return;
    case "seq":
      for (let i = 0; i < node.items.length; i++) {
        path.push(i);
        walk(node.items[i] as YNode, path, problems);
        path.pop();
      }
      return;
    case "map":
      for (const e of node.entries) {
        path.push(e.key);
        if (mentionsDockerSocket(e.key)) problems.error(e.keyPos, [...path], MESSAGE, HINT);
        walk(e.value, path, problems);
        path.pop();
      }
      return;
  }
}
