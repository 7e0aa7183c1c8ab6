package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type layout struct{ dir string }

func (l layout) blobPath(d digest.Digest) string {
	return filepath.Join(l.dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// writeBlob stores b as a blob and returns its descriptor (without a media type).
func (l layout) writeBlob(b []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(b)
	if err := os.WriteFile(l.blobPath(d), b, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}, nil
}

func (l layout) readJSON(d digest.Digest, v any) error {
	b, err := os.ReadFile(l.blobPath(d))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return nil
}

func convertLayout(dir string) error {
	l := layout{dir: dir}
	indexPath := filepath.Join(dir, "index.json")
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return fmt.Errorf("%s is not an OCI image layout: %w", dir, err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		return fmt.Errorf("%s: %w", indexPath, err)
	}
	var dropped []digest.Digest
	for i, m := range index.Manifests {
		nd, old, err := convertDescriptor(l, m)
		if err != nil {
			return err
		}
		index.Manifests[i] = nd
		dropped = append(dropped, old...)
	}
	out, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := os.WriteFile(indexPath, out, 0o644); err != nil {
		return err
	}
	for _, d := range dropped {
		_ = os.Remove(l.blobPath(d))
	}
	// docker save's own manifest.json names the old blobs; an OCI reader uses index.json.
	_ = os.Remove(filepath.Join(dir, "manifest.json"))
	return nil
}

// convertDescriptor converts what an index.json entry names: an image manifest, or an image index
// (containerd's image store saves one, with BuildKit's attestation manifests beside the image's).
// Attestations are dropped: they name the image manifest by a digest the conversion changes. An
// index left with one image becomes that image's manifest, under the entry's own annotations.
func convertDescriptor(l layout, desc ocispec.Descriptor) (ocispec.Descriptor, []digest.Digest, error) {
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest:
		return convertManifest(l, desc)
	case ocispec.MediaTypeImageIndex:
	default:
		return desc, nil, fmt.Errorf("%s has media type %q: only OCI image manifests and indexes are converted", desc.Digest, desc.MediaType)
	}
	var idx ocispec.Index
	if err := l.readJSON(desc.Digest, &idx); err != nil {
		return desc, nil, err
	}
	dropped := []digest.Digest{desc.Digest}
	var kept []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			dropped = append(dropped, m.Digest)
			continue
		}
		nd, old, err := convertDescriptor(l, m)
		if err != nil {
			return desc, nil, err
		}
		kept = append(kept, nd)
		dropped = append(dropped, old...)
	}
	if len(kept) == 0 {
		return desc, nil, fmt.Errorf("index %s holds no image", desc.Digest)
	}
	if len(kept) == 1 {
		one := kept[0]
		one.Annotations = desc.Annotations
		one.Platform = nil
		return one, dropped, nil
	}
	idx.Manifests = kept
	ib, err := json.Marshal(idx)
	if err != nil {
		return desc, nil, err
	}
	nd, err := l.writeBlob(ib)
	if err != nil {
		return desc, nil, err
	}
	desc.Digest, desc.Size = nd.Digest, nd.Size
	return desc, dropped, nil
}
