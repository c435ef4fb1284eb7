package spdx

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// OCILayers reads an OCI image layout packed as a tarball (what //images
// builds) and returns every platform's layers, in the index's order.
func OCILayers(r io.Reader) ([]Layer, error) {
	blobs := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image tarball: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if name == "index.json" || (strings.HasPrefix(name, "blobs/sha256/") && h.Size < 1<<20) {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			blobs[name] = b
		}
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
		Platform  *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	}
	var doc struct {
		Manifests []descriptor `json:"manifests"`
		Layers    []descriptor `json:"layers"`
	}
	blob := func(digest string) ([]byte, error) {
		b, ok := blobs["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok {
			return nil, fmt.Errorf("the image has no blob %s", digest)
		}
		return b, nil
	}
	if err := json.Unmarshal(blobs["index.json"], &doc); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	// index.json points at the image index, which lists the platforms.
	for len(doc.Manifests) == 1 && doc.Manifests[0].Platform == nil {
		b, err := blob(doc.Manifests[0].Digest)
		if err != nil {
			return nil, err
		}
		doc.Manifests = nil
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, err
		}
	}
	var layers []Layer
	for _, m := range doc.Manifests {
		if m.Platform == nil {
			return nil, fmt.Errorf("manifest %s names no platform", m.Digest)
		}
		b, err := blob(m.Digest)
		if err != nil {
			return nil, err
		}
		var man struct{ Layers []descriptor }
		if err := json.Unmarshal(b, &man); err != nil {
			return nil, err
		}
		for _, l := range man.Layers {
			layers = append(layers, Layer{m.Platform.OS + "/" + m.Platform.Architecture, l.Digest, l.Size})
		}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("the image has no layers")
	}
	return layers, nil
}
