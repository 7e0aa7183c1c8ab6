// The highest workspace declaration generation this node accepted, per workspace, kept in the
// agent's state folder (not the workspace's, so it outlives the workspace's removal): a
// declaration below it is a replay, and so is another declaration of the same generation.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { WorkspaceDeclarationError } from "../../contract/workspace/declaration";
import { writeFileAtomic } from "../../lib/atomic-write";

interface Floor {
  generation: number;
  /** SHA-256 of the accepted declaration (canonical JSON). */
  digest: string;
}

export class GenerationFloors {
  constructor(private readonly dir: string) {}

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  get(id: string): Floor | undefined {
    const f = this.file(id);
    if (!existsSync(f)) return undefined;
    const v = JSON.parse(readFileSync(f, "utf8")) as Floor;
    return typeof v.generation === "number" && typeof v.digest === "string" ? v : undefined;
  }

  /** Accepts a declaration (raising the floor) or throws why it is a replay. */
  admit(id: string, generation: number, digest: string): void {
    const floor = this.get(id);
    if (floor && generation < floor.generation)
      throw new WorkspaceDeclarationError(
        `generation ${generation} is older than generation ${floor.generation}, which this node already accepted: a replayed declaration is refused (publish a new one with \`pulumi up\`)`,
      );
    if (floor && generation === floor.generation && digest !== floor.digest)
      throw new WorkspaceDeclarationError(
        `generation ${generation} was already accepted with other content: a declaration's generation must grow with every change`,
      );
    if (floor?.generation === generation) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(id), `${JSON.stringify({ generation, digest })}\n`, 0o600);
  }
}
