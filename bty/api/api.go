// Package api holds the JSON bodies of bty-web's operator API, one type
// each, shared by the server (bty/web), its Go client (internal/webclient)
// and the tests. The machine-facing bodies (plans, status and inventory
// reports) are package provision's, which bty auto shares; a machine's
// settings (PUT /machines/{mac}) are provision.Settings.
package api

import "github.com/bty-lab/bty/bty/catalog"

// Error is the body of every refusal: what was refused and how to fix it.
type Error struct {
	Error string `json:"error"`
}

// Health is GET /healthz: "ok", or "error" with why the state cannot be
// written.
type Health struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Version is GET /version.
type Version struct {
	Version string `json:"version"`
}

// Uploaded answers PUT /boot/{name} and PUT /images/{name}: what was
// stored (an image also gets its ref).
type Uploaded struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
	Ref       string `json:"ref,omitempty"`
}

// CatalogEntry is POST /catalog/entries: a remote image to register.
type CatalogEntry struct {
	Name   string `json:"name"`
	Src    string `json:"src"`
	SHA256 string `json:"sha256,omitempty"`
	Format string `json:"format,omitempty"`
}

// Registered answers POST /catalog/entries: the new image's ref.
type Registered struct {
	Ref string `json:"ref"`
}

// Image is one entry of GET /images: an image and where machines fetch it.
type Image struct {
	Name      string         `json:"name"`
	Format    catalog.Format `json:"format"`
	SizeBytes int64          `json:"size_bytes"`
	SHA256    string         `json:"sha256"`
	Ref       string         `json:"ref"`
	URL       string         `json:"url"`
}

// Templates is GET and PUT /templates: the cloud-init user-data template
// for every image ("" for bty's default: the hostname alone), and per
// image (by name) its own template or an opt-out.
type Templates struct {
	UserData string                   `json:"user_data"`
	Images   map[string]ImageTemplate `json:"images"`
}

// ImageTemplate is one image's cloud-init setting: cloud_init false for an
// image without cloud-init (no seed is written for it), else its own
// user-data template ("" for the global one).
type ImageTemplate struct {
	CloudInit bool   `json:"cloud_init"`
	UserData  string `json:"user_data,omitempty"`
}

// BMC is PUT /machines/{mac}/bmc: how bty-web reaches the machine's BMC.
// The password is write-only: no answer carries it (GET /machines/{mac}
// says only "password_set"); an empty one keeps the one set before.
type BMC struct {
	Protocol string `json:"protocol"` // ipmi or redfish
	Address  string `json:"address"`  // host or host:port
	User     string `json:"user"`
	Password string `json:"password,omitempty"`
}

// Seed is GET /pxe/{mac}/cloud-init, asked for by a machine's live boot:
// the NoCloud files its flasher writes to the CIDATA partition, or
// enabled false when the machine or its image opted out.
type Seed struct {
	Enabled       bool   `json:"enabled"`
	MetaData      string `json:"meta_data,omitempty"`
	UserData      string `json:"user_data,omitempty"`
	NetworkConfig string `json:"network_config,omitempty"`
}

// PowerRequest is POST /machines/{mac}/power: status, on, off (soft, then
// hard after bmc.soft_off_seconds) or cycle.
type PowerRequest struct {
	Action string `json:"action"`
}

// PowerState answers it: whether the machine is on afterwards.
type PowerState struct {
	On bool `json:"on"`
}

// RackReimage is POST /reimage: every machine whose labels match the
// selector ("rack=r1"), at most max_parallel powered on at once (default
// 4), waves bmc.stagger_seconds apart.
type RackReimage struct {
	Selector    string `json:"selector"`
	ImageRef    string `json:"bty_image_ref"`
	MaxParallel int    `json:"max_parallel,omitempty"`
}

// Reimage is POST /machines/{mac}/reimage: the image to flash once, and
// the target disk ("" for the machine's own).
type Reimage struct {
	ImageRef         string `json:"bty_image_ref"`
	TargetDiskSerial string `json:"target_disk_serial,omitempty"`
}
