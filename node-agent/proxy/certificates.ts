// The node proxy's TLS certificates: files under <proxy dir>/tls (0600) listed in a crt-list that
// HAProxy reads at start, and the same changes made live through the runtime API (`new/set/
// commit ssl cert`, `add/del ssl crt-list`), so a new or renewed certificate never needs a
// reload. One file per environment and certificate name: `<env>.<name>.pem` (neither an
// environment id nor a certificate name holds a dot).
//
// Order for crash safety: HAProxy first, then the file. A crash between the two leaves a file
// that differs from the bundle, so the next install loads it again.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TlsBundle } from "../../contract/release/tls";
import { writeFileAtomic } from "../../lib/atomic-write";
import type { Logger } from "../../lib/log";
import { selfSignedCertificate } from "../../lib/openssl";
import type { HaproxyRuntimeApi } from "./runtime-api";

export class ProxyCertificates {
  readonly dir: string;
  readonly crtList: string;
  readonly defaultCert: string;

  constructor(
    dir: string,
    private readonly api: HaproxyRuntimeApi,
    private readonly log: Logger,
  ) {
    this.dir = dir;
    this.crtList = join(dir, "crt-list");
    this.defaultCert = join(dir, "default.pem");
  }

  /**
   * What HAProxy needs before it starts: a crt-list (possibly empty) and a default certificate,
   * served to clients whose SNI matches none (self-signed, made here once with openssl).
   */
  async ensureFiles(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (!existsSync(this.crtList)) writeFileAtomic(this.crtList, "", 0o600);
    if (existsSync(this.defaultCert)) return;
    const { certificate, key } = await selfSignedCertificate({ commonName: "berth-default", days: 3650 });
    writeFileAtomic(this.defaultCert, certificate + key, 0o600);
  }

  fileOf(environmentId: string, name: string): string {
    return join(this.dir, `${environmentId}.${name}.pem`);
  }

  /** The certificates on disk, as the crt-list names them. */
  listed(): string[] {
    if (!existsSync(this.crtList)) return [];
    return readFileSync(this.crtList, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
  }

  /**
   * Makes `bundles` the certificates of `environmentId`: loads new and changed ones, removes the
   * ones it no longer has. `live`: HAProxy runs (otherwise only the files change, and HAProxy
   * reads them when it starts).
   */
  async install(environmentId: string, bundles: readonly TlsBundle[], live: boolean): Promise<void> {
    await this.ensureFiles();
    const desired = new Map(bundles.map((b) => [this.fileOf(environmentId, b.name), b]));
    const mine = (file: string) => file.startsWith(join(this.dir, `${environmentId}.`));
    const liveNames = live ? await this.api.certificateNames() : [];
    const liveList = live ? await this.api.crtListEntries(this.crtList) : [];
    for (const [file, b] of desired) {
      const same = existsSync(file) && readFileSync(file, "utf8") === b.pem;
      if (same && (!live || liveNames.includes(file)) && (!live || liveList.includes(file))) continue;
      if (live) {
        if (!same || !liveNames.includes(file))
          await this.api.setCertificate(file, b.pem, !liveNames.includes(file));
        if (!liveList.includes(file)) await this.api.addToCrtList(this.crtList, file);
      }
      writeFileAtomic(file, b.pem, 0o600);
      this.log.info(
        {
          environment: environmentId,
          certificate: b.name,
          hosts: b.hosts,
          notAfter: b.notAfter.toISOString(),
          fingerprint: b.fingerprint,
        },
        "certificate installed",
      );
    }
    const stale = [
      ...new Set(
        [...this.listed(), ...liveList, ...this.filesOnDisk()].filter((f) => mine(f) && !desired.has(f)),
      ),
    ];
    for (const file of stale) {
      if (live) await this.api.removeCertificate(this.crtList, file);
      rmSync(file, { force: true });
      this.log.info({ environment: environmentId, file }, "certificate removed");
    }
    const list = [...new Set([...this.listed().filter((f) => !mine(f)), ...desired.keys()])].sort();
    const text = list.map((f) => `${f}\n`).join("");
    if (!existsSync(this.crtList) || readFileSync(this.crtList, "utf8") !== text)
      writeFileAtomic(this.crtList, text, 0o600);
  }

  private filesOnDisk(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".pem") && f !== "default.pem")
      .map((f) => join(this.dir, f));
  }
}
