// berth-stargz-snapshotter: containerd's remote snapshotter for eStargz images (lazy pulling),
// served over gRPC as a containerd proxy snapshotter plugin. A workspace node's containerd names
// it in `proxy_plugins`, and its dockerd uses it as the storage driver (the containerd image
// store), so an image whose layers are eStargz starts before its bytes are local: files are
// fetched from the registry on first read, the rest in the background.
//
// Built by berth's setup from the library packages of github.com/containerd/stargz-snapshotter
// (its command module is not published). Registry credentials come from the Docker config in
// $DOCKER_CONFIG (a mode-0600 file), never from the command line.
//
// Usage: berth-stargz-snapshotter -address SOCKET -root DIR [-config FILE.json] [-log-level LEVEL]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/log"
	"github.com/containerd/stargz-snapshotter/service"
	"github.com/containerd/stargz-snapshotter/service/keychain/dockerconfig"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
)

func main() {
	address := flag.String("address", "/run/berth-stargz/snapshotter.sock", "the gRPC socket containerd's proxy plugin dials")
	root := flag.String("root", "/var/lib/berth-stargz", "the snapshotter's data folder")
	configPath := flag.String("config", "", "a JSON file with the snapshotter's settings (stargz-snapshotter's config keys)")
	level := flag.String("log-level", "info", "trace, debug, info, warn or error")
	flag.Parse()
	if err := runSnapshotter(*address, *root, *configPath, *level); err != nil {
		fmt.Fprintf(os.Stderr, "berth-stargz-snapshotter: %v\n", err)
		os.Exit(1)
	}
}

func loadConfig(path string) (*service.Config, error) {
	cfg := &service.Config{}
	if path == "" {
		return cfg, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the config %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("the config %s is not valid: %w", path, err)
	}
	return cfg, nil
}

func runSnapshotter(address, root, configPath, level string) error {
	log.SetFormat(log.JSONFormat)
	if err := log.SetLevel(level); err != nil {
		return fmt.Errorf("-log-level %q: %w", level, err)
	}
	ctx := log.WithLogger(context.Background(), log.L)
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if err := service.Supported(root); err != nil {
		return fmt.Errorf("overlayfs is not usable under %s: %w", root, err)
	}
	sn, err := service.NewStargzSnapshotterService(ctx, root, cfg,
		service.WithCredsFuncs(dockerconfig.NewDockerconfigKeychain(ctx)))
	if err != nil {
		return fmt.Errorf("starting the snapshotter: %w", err)
	}
	defer sn.Close()

	rpc := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(rpc, snapshotservice.FromSnapshotter(sn))
	if err := os.MkdirAll(filepath.Dir(address), 0o700); err != nil {
		return err
	}
	if err := os.Remove(address); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", address, err)
	}
	served := make(chan error, 1)
	go func() { served <- rpc.Serve(l) }()
	log.G(ctx).WithField("address", address).Info("serving")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGINT, unix.SIGTERM)
	select {
	case s := <-sig:
		log.G(ctx).Infof("stopping on %v", s)
		rpc.Stop()
		// Closing the snapshotter unmounts its FUSE layers: containers on them stop working,
		// as with any storage driver going away under a running engine.
		return nil
	case err := <-served:
		return err
	}
}
