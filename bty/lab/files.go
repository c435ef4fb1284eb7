package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/state"
)

// bareName is a file name with no directory part: what /boot and /images
// accept. Anything else (a slash, "..", a leading dot) is refused outright.
var bareName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$`)

// CheckName refuses a boot file or image name that is not a bare name, or
// that names an upload in progress.
func CheckName(name string) error {
	if !bareName.MatchString(name) || strings.Contains(name, "..") || strings.HasSuffix(name, ".partial") {
		return Errorf(Malformed, "bad file name %q: use letters, digits, '.', '_', '+' and '-' only, no directories", name)
	}
	return nil
}

// Upload is a file arriving: its name, its bytes, how many the client
// announced (-1: unknown) and the sha256 it said they have ("": none).
type Upload struct {
	Name   string
	Body   io.Reader
	Size   int64
	SHA256 string
}

// UploadRef is the ref of an uploaded image: sha256("file://" + name).
func UploadRef(name string) string { return catalog.Ref("file://" + name) }

// PutBoot stores a boot file (a live trio's file, an iPXE binary).
func (l *Lab) PutBoot(ctx context.Context, up Upload, actor string) (api.Uploaded, error) {
	out, err := l.receive(up, l.cfg.BootDir, l.cfg.MaxBootBytes, nil)
	if err != nil {
		return out, err
	}
	l.store.Log(ctx, state.EventBootUploaded, "", actor, out)
	return out, nil
}

// PutImage stores an uploaded image and records it; an earlier upload of
// the name is replaced, a remote image of the name is not.
func (l *Lab) PutImage(ctx context.Context, up Upload, actor string) (api.Uploaded, error) {
	format, err := catalog.FormatFromName(up.Name)
	if err != nil {
		return api.Uploaded{}, Errorf(Invalid, "%v", err)
	}
	if img, err := l.store.ImageByName(ctx, up.Name); err == nil && !img.Uploaded {
		return api.Uploaded{}, Errorf(Conflict, "%s is registered as a remote image (%s); delete it first", up.Name, img.Src)
	}
	ref := UploadRef(up.Name)
	out, err := l.receive(up, l.cfg.ImageDir, l.cfg.MaxImageBytes, func(n int64, sum string) error {
		img := state.Image{Ref: ref, Name: up.Name, Src: "file://" + up.Name, Format: format, SizeBytes: n, SHA256: sum, Uploaded: true}
		return l.store.PutImage(ctx, img, actor)
	})
	out.Ref = ref
	return out, err
}

// receive streams an upload into dir: to name.partial first, hashed on the
// way, fsynced, checked against the declared sha256, recorded by record
// (if set), then renamed into place. On any failure (too large, cut
// short, a wrong digest, a full disk, a failed record) nothing is kept and
// an earlier file of that name is untouched: the rename comes after the
// record commits, so the bytes served always match the record.
func (l *Lab) receive(up Upload, dir string, limit int64, record func(size int64, sum string) error) (api.Uploaded, error) {
	name := up.Name
	if err := CheckName(name); err != nil {
		return api.Uploaded{}, err
	}
	want := strings.ToLower(up.SHA256)
	if want != "" && !catalog.IsSHA256(want) {
		return api.Uploaded{}, Errorf(Malformed, "the declared sha256 must be 64 hex digits")
	}
	if up.Size > limit {
		return api.Uploaded{}, Errorf(TooLarge, "%s is %d bytes; the limit is %d", name, up.Size, limit)
	}
	final := filepath.Join(dir, name)
	partial := final + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, os.ErrExist) {
		return api.Uploaded{}, Errorf(Conflict, "an upload of %s is already in progress", name)
	}
	if err != nil {
		return api.Uploaded{}, storageError(err, "creating "+name)
	}
	kept := false
	defer func() {
		if !kept {
			f.Close()
			os.Remove(partial)
		}
	}()
	h := sha256.New()
	out := &fileWriter{f: f}
	// One byte past the limit tells "too large" from "exactly the limit".
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(up.Body, limit+1))
	switch {
	case out.err != nil:
		return api.Uploaded{}, storageError(out.err, "writing "+name+" (nothing kept)")
	case n > limit:
		return api.Uploaded{}, Errorf(TooLarge, "%s exceeds the limit of %d bytes; nothing kept", name, limit)
	case err != nil:
		l.log.Warn("upload cut short", "name", name, "bytes", n, "err", err)
		return api.Uploaded{}, Errorf(Malformed, "upload of %s cut short after %d bytes (%v); nothing kept", name, n, err)
	case up.Size >= 0 && n != up.Size:
		return api.Uploaded{}, Errorf(Malformed, "upload of %s: got %d bytes, %d were announced; nothing kept", name, n, up.Size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		return api.Uploaded{}, Errorf(Invalid, "sha256 of %s is %s, the upload declared %s; nothing kept", name, sum, want)
	}
	if err := f.Sync(); err != nil {
		return api.Uploaded{}, storageError(err, "flushing "+name)
	}
	if err := f.Close(); err != nil {
		return api.Uploaded{}, storageError(err, "closing "+name)
	}
	if record != nil {
		if err := record(n, sum); err != nil {
			if errors.Is(err, state.ErrExists) {
				return api.Uploaded{}, Errorf(Conflict, "recording %s: %v; nothing kept", name, err)
			}
			return api.Uploaded{}, Errorf(Internal, "recording %s: %w; nothing kept, the earlier %s is unchanged", name, err, name)
		}
	}
	if err := os.Rename(partial, final); err != nil {
		return api.Uploaded{}, storageError(err, "storing "+name)
	}
	kept = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable
		d.Close()
	}
	return api.Uploaded{Name: name, SizeBytes: n, SHA256: sum}, nil
}

// fileWriter remembers a write error, so a full disk is told apart from a
// client that stopped sending.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// RemoveImage forgets an image and deletes its file if it was uploaded.
func (l *Lab) RemoveImage(ctx context.Context, name, actor string) error {
	img, err := l.store.DeleteImage(ctx, name, actor)
	if errors.Is(err, state.ErrNotFound) {
		return Errorf(NotFound, "no image %q", name)
	}
	if err != nil {
		return Errorf(Internal, "deleting image %q: %w", name, err)
	}
	if img.Uploaded {
		os.Remove(filepath.Join(l.cfg.ImageDir, name))
	}
	return nil
}

// RegisterImage adds a remote image to the catalog and returns its ref.
func (l *Lab) RegisterImage(ctx context.Context, e api.CatalogEntry, actor string) (string, error) {
	img, err := catalog.NewImage(e.Name, e.Src, e.SHA256, e.Format)
	if err != nil {
		return "", Errorf(Invalid, "%v", err)
	}
	rec := state.Image{Ref: img.Ref(), Name: img.Name, Src: img.Src, Format: img.Format, SHA256: img.SHA256}
	if err := l.store.PutImage(ctx, rec, actor); err != nil {
		if errors.Is(err, state.ErrExists) {
			return "", Errorf(Conflict, "%v: the name or the source is already registered", err)
		}
		return "", Errorf(Internal, "registering %q: %w", e.Name, err)
	}
	return rec.Ref, nil
}

// BootFile is the path of boot file name in the boot dir (the name
// checked; the file may not exist).
func (l *Lab) BootFile(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.cfg.BootDir, name), nil
}

// ImageFile is the directory and name of uploaded image ref/name.
func (l *Lab) ImageFile(ctx context.Context, ref, name string) (dir, file string, err error) {
	if err := CheckName(name); err != nil {
		return "", "", err
	}
	if !catalog.IsSHA256(ref) {
		return "", "", Errorf(Malformed, "bad image ref %q", ref)
	}
	img, err := l.store.ImageByRef(ctx, ref)
	if err != nil || !img.Uploaded || img.Name != name {
		return "", "", Errorf(NotFound, "no uploaded image %s/%s", ref, name)
	}
	return l.cfg.ImageDir, name, nil
}
