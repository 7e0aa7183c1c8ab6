# shellcheck shell=bash
# versitygw: a real S3-compatible server for the tests of the S3 release channel (the channel on
# Cloudflare R2 or Scaleway Object Storage speaks the same API). A Go module, installed once per
# machine into $BERTH_CACHE/bin (on PATH through env.sh); nothing is done when it is present.
BERTH_VERSITYGW_VERSION="v1.8.0"

setup_versitygw() {
  local bin="$BERTH_CACHE/bin"
  if [ -x "$bin/versitygw" ] && [ -f "$bin/.versitygw-$BERTH_VERSITYGW_VERSION" ]; then return 0; fi
  have go || die "the Go toolchain is needed to install versitygw (the S3 server of the tests): install Go >= 1.24 (https://go.dev/dl) and run again"
  mkdir -p "$bin"
  say "installing versitygw $BERTH_VERSITYGW_VERSION with Go into $bin (about 1 minute, once per machine)"
  GOBIN="$bin" go install "github.com/versity/versitygw/cmd/versitygw@$BERTH_VERSITYGW_VERSION" \
    || die "go install of versitygw $BERTH_VERSITYGW_VERSION failed: check that the Go module proxy is reachable (go env GOPROXY) and run again"
  rm -f "$bin"/.versitygw-*
  touch "$bin/.versitygw-$BERTH_VERSITYGW_VERSION"
}
