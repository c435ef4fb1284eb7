// Package qcow2 reads QEMU's qcow2 disk images (versions 2 and 3) in pure Go,
// so the live environment can flash them without qemu-img.
//
// Supported: standard, zero and unallocated clusters; deflate- and
// zstd-compressed clusters. Refused with a clear reason: encryption, backing
// files, external data files, extended L2 entries, images marked corrupt, and
// any incompatible feature this reader does not know. Every offset and size
// read from the file is bounds-checked before use: images come from the
// network.
package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Magic is the first four bytes of every qcow2 image.
var Magic = []byte{'Q', 'F', 'I', 0xfb}

// ErrUnsupported marks a valid qcow2 image that uses a feature bty refuses.
var ErrUnsupported = errors.New("unsupported qcow2 feature")

// ErrCorrupt marks an image whose structure is inconsistent or truncated.
var ErrCorrupt = errors.New("corrupt qcow2 image")

const (
	incompatDirty        = 1 << 0
	incompatCorrupt      = 1 << 1
	incompatExternalData = 1 << 2
	incompatCompression  = 1 << 3
	incompatExtendedL2   = 1 << 4
	incompatKnown        = incompatDirty | incompatCorrupt | incompatExternalData | incompatCompression | incompatExtendedL2

	l1OffsetMask   = 0x00fffffffffffe00
	l2OffsetMask   = 0x00fffffffffffe00
	l2Compressed   = 1 << 62
	l2ZeroFlag     = 1 << 0
	maxL1Bytes     = 32 << 20 // qemu's own limit
	maxVirtualSize = 1 << 62
)

// Header is the part of the qcow2 header this reader uses.
type Header struct {
	Version           uint32
	BackingFileOffset uint64
	ClusterBits       uint32
	Size              uint64 // virtual disk size in bytes
	CryptMethod       uint32
	L1Size            uint32
	L1TableOffset     uint64
	IncompatFeatures  uint64
	CompressionType   uint8 // 0 deflate, 1 zstd
}

// Image is an open qcow2 image; it reads guest bytes through ReadAt.
type Image struct {
	r           io.ReaderAt
	fileSize    int64
	hdr         Header
	clusterSize int64
	l2Entries   int64
	l1          []uint64

	mu       sync.Mutex
	l2Offset uint64 // offset of the cached L2 table, 0 for none
	l2       []uint64
	zdec     *zstd.Decoder
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// Sniff reports whether b starts with the qcow2 magic.
func Sniff(b []byte) bool { return bytes.HasPrefix(b, Magic) }

// ParseHeader decodes and validates a qcow2 header. fileSize bounds every
// table offset.
func ParseHeader(b []byte, fileSize int64) (Header, error) {
	var h Header
	if len(b) < 72 {
		return h, corrupt("header truncated (%d bytes)", len(b))
	}
	if !Sniff(b) {
		return h, fmt.Errorf("not a qcow2 image (magic %x)", b[:4])
	}
	be := binary.BigEndian
	h.Version = be.Uint32(b[4:])
	h.BackingFileOffset = be.Uint64(b[8:])
	h.ClusterBits = be.Uint32(b[20:])
	h.Size = be.Uint64(b[24:])
	h.CryptMethod = be.Uint32(b[32:])
	h.L1Size = be.Uint32(b[36:])
	h.L1TableOffset = be.Uint64(b[40:])
	switch h.Version {
	case 2:
	case 3:
		if len(b) < 104 {
			return h, corrupt("version 3 header truncated (%d bytes)", len(b))
		}
		h.IncompatFeatures = be.Uint64(b[72:])
		headerLen := be.Uint32(b[100:])
		if headerLen < 104 {
			return h, corrupt("header length %d below the version 3 minimum of 104", headerLen)
		}
		if h.IncompatFeatures&incompatCompression != 0 {
			if headerLen < 105 || len(b) < 105 {
				return h, corrupt("compression type flagged but header too short")
			}
			h.CompressionType = b[104]
		}
	default:
		return h, unsupported("version %d (want 2 or 3)", h.Version)
	}

	switch {
	case h.CryptMethod != 0:
		return h, unsupported("encrypted image (method %d): decrypt it first with qemu-img convert", h.CryptMethod)
	case h.BackingFileOffset != 0:
		return h, unsupported("image has a backing file: flatten it first with qemu-img convert -O qcow2")
	case h.IncompatFeatures&incompatCorrupt != 0:
		return h, corrupt("image is marked corrupt; repair it with qemu-img check -r all")
	case h.IncompatFeatures&incompatExternalData != 0:
		return h, unsupported("external data file: convert to a self-contained image with qemu-img convert")
	case h.IncompatFeatures&incompatExtendedL2 != 0:
		return h, unsupported("extended L2 entries (subclusters): convert with qemu-img convert -O qcow2")
	case h.IncompatFeatures&^uint64(incompatKnown) != 0:
		return h, unsupported("unknown incompatible features %#x", h.IncompatFeatures&^uint64(incompatKnown))
	case h.CompressionType > 1:
		return h, unsupported("compression type %d (want 0 deflate or 1 zstd)", h.CompressionType)
	case h.ClusterBits < 9 || h.ClusterBits > 21:
		return h, corrupt("cluster_bits %d out of range 9-21", h.ClusterBits)
	case h.Size > maxVirtualSize:
		return h, corrupt("virtual size %d too large", h.Size)
	}
	clusterSize := uint64(1) << h.ClusterBits
	l2Entries := clusterSize / 8
	needL1 := (h.Size + clusterSize*l2Entries - 1) / (clusterSize * l2Entries)
	if uint64(h.L1Size) < needL1 {
		return h, corrupt("L1 table has %d entries, %d needed for %d bytes", h.L1Size, needL1, h.Size)
	}
	if uint64(h.L1Size)*8 > maxL1Bytes {
		return h, corrupt("L1 table of %d entries is too large", h.L1Size)
	}
	if h.L1TableOffset%clusterSize != 0 || h.L1TableOffset+uint64(h.L1Size)*8 > uint64(fileSize) {
		return h, corrupt("L1 table at %d (%d entries) lies outside the %d-byte file or is misaligned", h.L1TableOffset, h.L1Size, fileSize)
	}
	return h, nil
}

// Open reads the header and L1 table of the image in r (fileSize bytes).
func Open(r io.ReaderAt, fileSize int64) (*Image, error) {
	head := make([]byte, 512)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading qcow2 header: %w", err)
	}
	h, err := ParseHeader(head[:n], fileSize)
	if err != nil {
		return nil, err
	}
	img := &Image{
		r:           r,
		fileSize:    fileSize,
		hdr:         h,
		clusterSize: 1 << h.ClusterBits,
		l2Entries:   (1 << h.ClusterBits) / 8,
	}
	raw := make([]byte, int(h.L1Size)*8)
	if _, err := r.ReadAt(raw, int64(h.L1TableOffset)); err != nil {
		return nil, corrupt("reading L1 table: %v", err)
	}
	img.l1 = make([]uint64, h.L1Size)
	for i := range img.l1 {
		img.l1[i] = binary.BigEndian.Uint64(raw[i*8:])
	}
	if h.CompressionType == 1 {
		img.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// Header returns the parsed header.
func (img *Image) Header() Header { return img.hdr }

// Size is the virtual disk size: the number of bytes the image expands to.
func (img *Image) Size() int64 { return int64(img.hdr.Size) }

// ClusterSize is the image's cluster size in bytes.
func (img *Image) ClusterSize() int64 { return img.clusterSize }

// ReadAt reads guest bytes. Unallocated and zero clusters read as zeros.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("qcow2: negative offset %d", off)
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= img.Size() {
			return n, io.EOF
		}
		inCluster := pos % img.clusterSize
		chunk := min(int64(len(p)-n), img.clusterSize-inCluster, img.Size()-pos)
		if err := img.readCluster(p[n:n+int(chunk)], pos-inCluster, inCluster); err != nil {
			return n, err
		}
		n += int(chunk)
	}
	return n, nil
}

// readCluster fills dst with the bytes at offset within the guest cluster
// starting at guest offset base.
func (img *Image) readCluster(dst []byte, base, within int64) error {
	clusterIndex := base / img.clusterSize
	l1Index := clusterIndex / img.l2Entries
	l2Index := clusterIndex % img.l2Entries
	if l1Index >= int64(len(img.l1)) {
		return corrupt("guest offset %d beyond the L1 table", base)
	}
	l2Offset := img.l1[l1Index] & l1OffsetMask
	if l2Offset == 0 {
		clear(dst)
		return nil
	}
	if err := img.loadL2(l2Offset); err != nil {
		return err
	}
	entry := img.l2[l2Index]
	if entry&l2Compressed != 0 {
		return img.readCompressed(dst, entry, within)
	}
	hostOffset := entry & l2OffsetMask
	if entry&l2ZeroFlag != 0 && img.hdr.Version >= 3 || hostOffset == 0 {
		clear(dst)
		return nil
	}
	if hostOffset%uint64(img.clusterSize) != 0 {
		return corrupt("data cluster at %d is not cluster aligned", hostOffset)
	}
	if hostOffset+uint64(within)+uint64(len(dst)) > uint64(img.fileSize) {
		return corrupt("data cluster at %d lies beyond the end of the %d-byte file", hostOffset, img.fileSize)
	}
	if _, err := img.r.ReadAt(dst, int64(hostOffset)+within); err != nil {
		return corrupt("reading data cluster at %d: %v", hostOffset, err)
	}
	return nil
}

func (img *Image) loadL2(offset uint64) error {
	if img.l2Offset == offset {
		return nil
	}
	if offset%uint64(img.clusterSize) != 0 || offset+uint64(img.clusterSize) > uint64(img.fileSize) {
		return corrupt("L2 table at %d is misaligned or beyond the end of the %d-byte file", offset, img.fileSize)
	}
	raw := make([]byte, img.clusterSize)
	if _, err := img.r.ReadAt(raw, int64(offset)); err != nil {
		return corrupt("reading L2 table at %d: %v", offset, err)
	}
	if img.l2 == nil {
		img.l2 = make([]uint64, img.l2Entries)
	}
	for i := range img.l2 {
		img.l2[i] = binary.BigEndian.Uint64(raw[i*8:])
	}
	img.l2Offset = offset
	return nil
}

// readCompressed inflates one compressed cluster and copies the wanted part.
func (img *Image) readCompressed(dst []byte, entry uint64, within int64) error {
	// The descriptor splits at bit x = 62 - (cluster_bits - 8): the low part
	// is the host offset, the high part the count of extra 512-byte sectors.
	x := 62 - (img.hdr.ClusterBits - 8)
	desc := entry & (1<<62 - 1)
	hostOffset := desc & (1<<x - 1)
	sectors := desc >> x
	size := (sectors+1)*512 - hostOffset%512
	if hostOffset >= uint64(img.fileSize) {
		return corrupt("compressed cluster at %d beyond the end of the %d-byte file", hostOffset, img.fileSize)
	}
	// The last compressed cluster may end before its sector count says.
	size = min(size, uint64(img.fileSize)-hostOffset, uint64(2*img.clusterSize))
	comp := make([]byte, size)
	if _, err := img.r.ReadAt(comp, int64(hostOffset)); err != nil && !errors.Is(err, io.EOF) {
		return corrupt("reading compressed cluster at %d: %v", hostOffset, err)
	}
	cluster := make([]byte, img.clusterSize)
	var n int
	var err error
	switch img.hdr.CompressionType {
	case 0:
		n, err = io.ReadFull(flate.NewReader(bytes.NewReader(comp)), cluster)
	case 1:
		// Streamed, not DecodeAll: the bytes after this cluster's frame
		// belong to the next cluster and must not be decoded.
		if err = img.zdec.Reset(bytes.NewReader(comp)); err == nil {
			n, err = io.ReadFull(img.zdec, cluster)
		}
	}
	if err != nil {
		return corrupt("decompressing cluster at %d: %v (%d of %d bytes)", hostOffset, err, n, img.clusterSize)
	}
	copy(dst, cluster[within:])
	return nil
}

// Close releases the decoder resources; it does not close the reader.
func (img *Image) Close() error {
	if img.zdec != nil {
		img.zdec.Close()
	}
	return nil
}
