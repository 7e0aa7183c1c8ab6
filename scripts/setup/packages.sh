# shellcheck shell=bash
# System packages from Debian's archive. Docker Engine, Compose v2 and buildx come from
# Debian 13 (trixie), pinned at priority 100 so that nothing else is upgraded from it
# (Debian 12's docker.io lacks named build contexts, Compose v2 and buildx).

# command -> package (and the release to take it from, when not the machine's own)
BERTH_PACKAGES=(
  "dockerd:docker.io/trixie"
  "docker:docker-cli/trixie"
  "/usr/libexec/docker/cli-plugins/docker-compose:docker-compose/trixie"
  "/usr/libexec/docker/cli-plugins/docker-buildx:docker-buildx/trixie"
  "docker-registry:docker-registry"
  "htpasswd:apache2-utils"
  "haproxy:haproxy"
  "cloud-init:cloud-init"
  "debootstrap:debootstrap"
  "socat:socat"
  "curl:curl"
  "iptables:iptables"
  "restic:restic"
  "unpigz:pigz"
  # Workspace cache images are pushed with zstd layers (node-agent/workspace/commands.ts push);
  # Debian 12's 1.9 is enough (its oci: transport), nodes get Debian 13's.
  "skopeo:skopeo"
  "openssl:openssl"
  "mkfs.ext4:e2fsprogs"
  # git over SSH with a deploy key: the client on the node, sshd as the test's git host
  "ssh:openssh-client"
  "/usr/sbin/sshd:openssh-server"
)

setup_packages() {
  local missing=() entry cmd pkg
  for entry in "${BERTH_PACKAGES[@]}"; do
    cmd="${entry%%:*}" pkg="${entry#*:}"
    if [[ "$cmd" == /* ]]; then [ -x "$cmd" ] && continue; else have "$cmd" && continue; fi
    missing+=("$pkg")
  done
  # A docker client that is not Debian's (for example Docker 28 in /usr/local/bin) works too.
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! is_root || ! have apt-get; then
    die "missing packages: ${missing[*]} (install them as root with apt-get on Debian; trixie for the docker ones) and run again"
  fi
  if printf '%s\n' "${missing[@]}" | grep -q '/trixie$'; then add_trixie_source; fi
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed: check that Debian's archive is reachable and run again"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$BERTH_CACHE/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed: see $BERTH_CACHE/apt.log"
}

add_trixie_source() {
  local mirror
  mirror="$(debian_mirror)"
  if [ ! -f /etc/apt/sources.list.d/berth-trixie.sources ]; then
    cat >/etc/apt/sources.list.d/berth-trixie.sources <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  if [ ! -f /etc/apt/preferences.d/berth-trixie ]; then
    cat >/etc/apt/preferences.d/berth-trixie <<'PIN'
# berth: take packages from trixie only when asked by name (pkg/trixie)
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  fi
}

# The Debian mirror apt already uses on this machine.
debian_mirror() {
  local m
  m="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | head -1)"
  echo "${m:-http://deb.debian.org/debian}"
}
