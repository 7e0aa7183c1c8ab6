// berth-estargz: rewrites the layers of an OCI image layout (as `docker save` writes it) as
// eStargz, in place, so a node whose containerd runs the stargz snapshotter starts the image
// before its bytes are local (lazy pulling). An eStargz layer is an ordinary gzip tar with a
// table of contents, so any engine still pulls it; a layer that already is eStargz is kept.
// The image's config gets the new layers' diff ids, its manifest their TOC digests as
// annotations, and index.json the new manifest. Blobs no longer referenced are removed.
//
// Usage: berth-estargz LAYOUT_DIR
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: berth-estargz LAYOUT_DIR (an OCI image layout, e.g. docker save's, extracted)")
		os.Exit(2)
	}
	if err := convertLayout(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "berth-estargz: %v\n", err)
		os.Exit(1)
	}
}
