// Package stick is what a bty USB stick is, in one place: the names the ISO
// builder (tools/iso) lays down and the live environment (bty-init) looks
// for, and the first-boot grow of the stick's BTY_IMAGES partition.
package stick

import (
	"strings"
)

// Names on the stick. The ISO 9660 tree and the EFI system partition both
// hold the kernel and initrd under these paths (as the same bytes); the
// squashfs is in the ISO 9660 tree only. Linux shows ISO 9660 names in
// lower case, which is how they are written here.
const (
	Kernel   = "live/vmlinuz"
	Initrd   = "live/initrd"
	Squashfs = "live/bty.squashfs"

	// ImagesLabel is the label of the partition (and of its exFAT
	// filesystem) that holds the operator's images.
	ImagesLabel = "BTY_IMAGES"
	// ImagesFolder is where images live on a stick that has no
	// BTY_IMAGES partition, such as a Ventoy stick.
	ImagesFolder = "bty-images"
	// Grown marks a BTY_IMAGES that was grown (or found filling its stick);
	// GrowFailed one whose grow was refused, so it is not tried at every
	// boot.
	Grown      = ".bty-grown"
	GrowFailed = ".bty-grown-failed"
	// MinGrow is the free space behind BTY_IMAGES below which growing is
	// not worth a new filesystem.
	MinGrow = 16 << 20
)

// VolumeID is the ISO 9660 volume identifier of the stick for a version:
// "BTY_" and the version in ISO 9660's d-characters. bty-init mounts only
// the medium of its own version, so a Ventoy stick may carry several.
func VolumeID(version string) string {
	id := []byte("BTY_" + strings.ToUpper(version))
	for i, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			id[i] = '_'
		}
	}
	return string(id[:min(len(id), 32)])
}
