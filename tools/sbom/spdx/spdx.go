// Package spdx writes the release's software bills of materials as SPDX 2.3
// JSON documents: what one artifact is made of, from what the build knows
// (the Go modules Bazel linked into each binary, the pinned Debian
// packages, the layers of an OCI image), never from scanning the bytes.
//
// SPDX rather than CycloneDX: SPDX 2.3 is an ISO standard (ISO/IEC
// 5962:2021), GitHub's dependency graph exports and imports it, Debian
// ships a validator for it (pyspdxtools), and cosign attests it as the
// predicate type "spdxjson".
package spdx

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Document is an SPDX 2.3 document, the fields bty writes.
type Document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      CreationInfo   `json:"creationInfo"`
	DocumentDescribes []string       `json:"documentDescribes"`
	Packages          []Package      `json:"packages"`
	Relationships     []Relationship `json:"relationships"`
}

// CreationInfo says who made the document and when.
type CreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

// Package is one component.
type Package struct {
	SPDXID                string        `json:"SPDXID"`
	Name                  string        `json:"name"`
	VersionInfo           string        `json:"versionInfo,omitempty"`
	Supplier              string        `json:"supplier,omitempty"`
	DownloadLocation      string        `json:"downloadLocation"`
	FilesAnalyzed         bool          `json:"filesAnalyzed"`
	Checksums             []Checksum    `json:"checksums,omitempty"`
	LicenseConcluded      string        `json:"licenseConcluded"`
	LicenseDeclared       string        `json:"licenseDeclared"`
	CopyrightText         string        `json:"copyrightText"`
	PrimaryPackagePurpose string        `json:"primaryPackagePurpose,omitempty"`
	Comment               string        `json:"comment,omitempty"`
	ExternalRefs          []ExternalRef `json:"externalRefs,omitempty"`
}

// Checksum is a digest of a package's file.
type Checksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

// ExternalRef points at a package in a package manager (a purl).
type ExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

// Relationship links two elements.
type Relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// Builder collects an artifact's components.
type Builder struct {
	doc  Document
	root string
	ids  map[string]bool
}

// New starts the document for artifact name (its file name) with its
// sha256, at the release version; created is the build's fixed time.
func New(name, sha256, version, purpose, repository string, created time.Time) *Builder {
	b := &Builder{ids: map[string]bool{}}
	b.doc = Document{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              name,
		DocumentNamespace: "https://github.com/" + repository + "/releases/download/v" + version + "/" + name + ".spdx.json/sha256-" + sha256,
		CreationInfo:      CreationInfo{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: bty-sbom-" + version, "Organization: " + repository}},
	}
	b.root = b.add(Package{
		Name: name, VersionInfo: version, Supplier: "Organization: " + repository,
		DownloadLocation:      "https://github.com/" + repository + "/releases/download/v" + version + "/" + name,
		Checksums:             []Checksum{{"SHA256", sha256}},
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       noAssertion,
		PrimaryPackagePurpose: purpose,
	}, "artifact", name)
	b.doc.DocumentDescribes = []string{b.root}
	b.relate("SPDXRef-DOCUMENT", "DESCRIBES", b.root)
	return b
}

var idChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// add puts p in the document under an id made of kind and key, once, and
// returns the id.
func (b *Builder) add(p Package, kind, key string) string {
	id := "SPDXRef-" + kind + "-" + strings.Trim(idChars.ReplaceAllString(key, "-"), "-")
	if b.ids[id] {
		return id
	}
	b.ids[id] = true
	p.SPDXID = id
	if p.CopyrightText == "" {
		p.CopyrightText = noAssertion
	}
	if p.LicenseConcluded == "" {
		p.LicenseConcluded = noAssertion
	}
	if p.LicenseDeclared == "" {
		p.LicenseDeclared = noAssertion
	}
	if p.DownloadLocation == "" {
		p.DownloadLocation = noAssertion
	}
	b.doc.Packages = append(b.doc.Packages, p)
	return id
}

func (b *Builder) relate(a, typ, c string) {
	r := Relationship{a, typ, c}
	if !slices.Contains(b.doc.Relationships, r) {
		b.doc.Relationships = append(b.doc.Relationships, r)
	}
}

// Module is a Go module linked into a binary.
type Module struct {
	Path, Version string
	Sum           string // go.sum's h1: hash of the module's files
}

// GoBinary adds a Go program (name, e.g. "bty-web linux/arm64") built by
// goVersion from the main module at version, with the modules it links.
func (b *Builder) GoBinary(name, mainModule, version, license, goVersion string, mods []Module) {
	bin := b.add(Package{
		Name: name, VersionInfo: version, LicenseDeclared: license, PrimaryPackagePurpose: "APPLICATION",
		Comment:      "built by " + goVersion,
		ExternalRefs: []ExternalRef{purl("pkg:golang/" + mainModule + "@v" + version)},
	}, "go", name)
	b.relate(b.root, "CONTAINS", bin)
	for _, m := range mods {
		id := b.add(Package{
			Name: m.Path, VersionInfo: m.Version, PrimaryPackagePurpose: "LIBRARY",
			Comment:      "go.sum " + m.Sum,
			ExternalRefs: []ExternalRef{purl("pkg:golang/" + m.Path + "@" + m.Version)},
		}, "gomod", m.Path+"-"+m.Version)
		b.relate(bin, "DEPENDS_ON", id)
	}
}

// Deb is a pinned Debian package (tools/debian's metadata.json).
type Deb struct {
	Package, Version, Architecture, Filename, SHA256, License string
}

// Debian adds a Debian package the artifact contains files of.
func (b *Builder) Debian(d Deb) {
	id := b.add(Package{
		Name: d.Package, VersionInfo: d.Version, Supplier: "Organization: Debian", LicenseDeclared: d.License,
		Checksums: []Checksum{{"SHA256", d.SHA256}}, PrimaryPackagePurpose: "OPERATING-SYSTEM",
		Comment:      "the .deb " + d.Filename[strings.LastIndex(d.Filename, "/")+1:],
		ExternalRefs: []ExternalRef{purl(fmt.Sprintf("pkg:deb/debian/%s@%s?arch=%s", d.Package, d.Version, d.Architecture))},
	}, "deb", d.Package+"-"+d.Version+"-"+d.Architecture)
	b.relate(b.root, "CONTAINS", id)
}

// Layer is one layer of an image, for one platform.
type Layer struct {
	Platform, Digest string
	Size             int64
}

// Layers adds an OCI image's layers.
func (b *Builder) Layers(image string, layers []Layer) {
	for _, l := range layers {
		hex := strings.TrimPrefix(l.Digest, "sha256:")
		id := b.add(Package{
			Name: image + " layer (" + l.Platform + ")", VersionInfo: l.Digest, PrimaryPackagePurpose: "CONTAINER",
			Checksums: []Checksum{{"SHA256", hex}}, Comment: fmt.Sprintf("%d bytes, compressed", l.Size),
		}, "layer", l.Platform+"-"+hex[:16])
		b.relate(b.root, "CONTAINS", id)
	}
}

func purl(locator string) ExternalRef {
	return ExternalRef{"PACKAGE-MANAGER", "purl", locator}
}

// JSON returns the document, indented, with a final newline.
func (b *Builder) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(b.doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
