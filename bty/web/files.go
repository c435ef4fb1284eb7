package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

// bareName is a file name with no directory part: what /boot and /images
// accept. Anything else (a slash, "..", a leading dot) is refused outright.
var bareName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$`)

func nameParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if !bareName.MatchString(name) || strings.Contains(name, "..") || strings.HasSuffix(name, ".partial") {
		writeError(w, http.StatusBadRequest, "bad file name %q: use letters, digits, '.', '_', '+' and '-' only, no directories", name)
		return "", false
	}
	return name, true
}

// serveFile serves dir/name with Range and HEAD support, through os.Root so
// that no name can reach outside dir.
func serveFile(w http.ResponseWriter, r *http.Request, dir, name string) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such file %q", name)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "no such file %q", name)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

func (s *Server) getBoot(w http.ResponseWriter, r *http.Request) {
	name, ok := nameParam(w, r)
	if !ok {
		return
	}
	// ?mac= marks a machine fetching the live kernel: arm its flasher bit.
	if q := r.URL.Query().Get("mac"); q != "" {
		addr, err := mac.Parse(q)
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if _, err := os.Stat(filepath.Join(s.bootDir, name)); err == nil && r.Method == http.MethodGet && r.Header.Get("Range") == "" {
			s.arm(r, addr, name)
		}
	}
	serveFile(w, r, s.bootDir, name)
}

func (s *Server) arm(r *http.Request, addr mac.Addr, name string) {
	_, err := s.store.Update(r.Context(), addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, nil
		}
		next := m.Arm()
		if next.Armed == m.Armed {
			return state.Change{Kind: "boot.fetch", Detail: map[string]string{"file": name}}, nil
		}
		return state.Change{Machine: &next, Kind: "flash.armed", Detail: map[string]string{"file": name}}, nil
	})
	if err != nil {
		s.log.Error("arming", "mac", addr, "err", err)
	}
}

// upload streams a request body into dir/name: to name.partial first, hashed
// on the way, fsynced, checked against X-Bty-Sha256, recorded by record (if
// set), then renamed into place. On any failure (too large, cut short, idle,
// wrong digest, a full disk, a failed record, shutdown) nothing is kept and
// an earlier file of that name is untouched: the rename comes after the
// record commits, so the bytes served always match the record.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, dir, name string, limit int64, record func(size int64, sum string) error) (size int64, sum string, ok bool) {
	want := strings.ToLower(r.Header.Get("X-Bty-Sha256"))
	if want != "" && !catalog.IsSHA256(want) {
		writeError(w, http.StatusBadRequest, "X-Bty-Sha256 must be 64 hex digits")
		return 0, "", false
	}
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "%s is %d bytes; the limit is %d", name, r.ContentLength, limit)
		return 0, "", false
	}
	final := filepath.Join(dir, name)
	partial := final + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, os.ErrExist) {
		writeError(w, http.StatusConflict, "an upload of %s is already in progress", name)
		return 0, "", false
	}
	if err != nil {
		writeStorageError(w, err, "creating "+name)
		return 0, "", false
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
	body := &idleReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w), idle: s.idle()}
	n, err := io.Copy(io.MultiWriter(out, h), body)
	var maxErr *http.MaxBytesError
	switch {
	case out.err != nil:
		writeStorageError(w, out.err, fmt.Sprintf("writing %s after %d bytes; nothing kept", name, n))
		return 0, "", false
	case errors.As(err, &maxErr):
		writeError(w, http.StatusRequestEntityTooLarge, "%s exceeds the limit of %d bytes; nothing kept", name, limit)
		return 0, "", false
	case err != nil:
		s.log.Warn("upload cut short", "name", name, "bytes", n, "err", err)
		writeError(w, http.StatusBadRequest, "upload of %s cut short after %d bytes (%v); nothing kept", name, n, err)
		return 0, "", false
	case r.ContentLength >= 0 && n != r.ContentLength:
		writeError(w, http.StatusBadRequest, "upload of %s: got %d bytes, Content-Length said %d; nothing kept", name, n, r.ContentLength)
		return 0, "", false
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		writeError(w, http.StatusUnprocessableEntity, "sha256 of %s is %s, X-Bty-Sha256 said %s; nothing kept", name, sum, want)
		return 0, "", false
	}
	if err := f.Sync(); err != nil {
		writeStorageError(w, err, "flushing "+name)
		return 0, "", false
	}
	if err := f.Close(); err != nil {
		writeStorageError(w, err, "closing "+name)
		return 0, "", false
	}
	if record != nil {
		if err := record(n, sum); err != nil {
			if errors.Is(err, state.ErrExists) {
				writeError(w, http.StatusConflict, "recording %s: %v; nothing kept", name, err)
			} else {
				writeError(w, http.StatusInternalServerError, "recording %s: %v; nothing kept, the earlier %s is unchanged", name, err, name)
			}
			return 0, "", false
		}
	}
	if err := os.Rename(partial, final); err != nil {
		writeStorageError(w, err, "storing "+name)
		return 0, "", false
	}
	kept = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable
		d.Close()
	}
	return n, sum, true
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

// idleReader moves the connection's read deadline forward while bytes
// arrive: an upload may take hours, but never idle for long.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.rc.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}

// writeStorageError answers a failure of the state dir: 507 when the disk
// is full, 500 otherwise.
func writeStorageError(w http.ResponseWriter, err error, what string) {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		writeError(w, http.StatusInsufficientStorage, "%s: the server's disk is full (%v)", what, err)
		return
	}
	writeError(w, http.StatusInternalServerError, "%s: %v", what, err)
}

type uploaded struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
	Ref       string `json:"ref,omitempty"`
}

func (s *Server) putBoot(w http.ResponseWriter, r *http.Request) {
	name, ok := nameParam(w, r)
	if !ok {
		return
	}
	n, sum, ok := s.upload(w, r, s.bootDir, name, s.cfg.Limits.MaxBootBytes, nil)
	if !ok {
		return
	}
	s.store.Log(r.Context(), "boot.uploaded", "", "admin", uploaded{name, n, sum, ""})
	writeJSON(w, http.StatusOK, uploaded{name, n, sum, ""})
}

// UploadRef is the ref of an uploaded image: sha256("file://" + name).
func UploadRef(name string) string { return catalog.Ref("file://" + name) }

func (s *Server) putImage(w http.ResponseWriter, r *http.Request) {
	name, ok := nameParam(w, r)
	if !ok {
		return
	}
	format, err := catalog.FormatFromName(name)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	if img, err := s.store.ImageByName(r.Context(), name); err == nil && !img.Uploaded {
		writeError(w, http.StatusConflict, "%s is registered as a remote image (%s); delete it first", name, img.Src)
		return
	}
	ref := UploadRef(name)
	n, sum, ok := s.upload(w, r, s.imgDir, name, s.cfg.Limits.MaxImageBytes, func(n int64, sum string) error {
		img := state.Image{Ref: ref, Name: name, Src: "file://" + name, Format: format, SizeBytes: n, SHA256: sum, Uploaded: true}
		return s.store.PutImage(r.Context(), img, "admin")
	})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, uploaded{name, n, sum, ref})
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) {
	name, ok := nameParam(w, r)
	if !ok {
		return
	}
	if err := s.removeImage(r, name); err != nil {
		writeOpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeImage forgets an image and deletes its file if it was uploaded.
func (s *Server) removeImage(r *http.Request, name string) error {
	img, err := s.store.DeleteImage(r.Context(), name, "admin")
	if errors.Is(err, state.ErrNotFound) {
		return fail(http.StatusNotFound, "no image %q", name)
	}
	if err != nil {
		return err
	}
	if img.Uploaded {
		os.Remove(filepath.Join(s.imgDir, name))
	}
	return nil
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request) {
	name, ok := nameParam(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	if !catalog.IsSHA256(ref) {
		writeError(w, http.StatusBadRequest, "bad image ref %q", ref)
		return
	}
	img, err := s.store.ImageByRef(r.Context(), ref)
	if err != nil || !img.Uploaded || img.Name != name {
		writeError(w, http.StatusNotFound, "no uploaded image %s/%s", ref, name)
		return
	}
	serveFile(w, r, s.imgDir, name)
}

type imageEntry struct {
	Name      string         `json:"name"`
	Format    catalog.Format `json:"format"`
	SizeBytes int64          `json:"size_bytes"`
	SHA256    string         `json:"sha256"`
	Ref       string         `json:"ref"`
	URL       string         `json:"url"`
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	base, imgs, ok := s.imagesAt(w, r)
	if !ok {
		return
	}
	out := make([]imageEntry, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, imageEntry{i.Name, i.Format, i.SizeBytes, i.SHA256, i.Ref, s.imageURL(base, i)})
	}
	writeJSON(w, http.StatusOK, out)
}

// catalogTOML serves every image as a catalog.toml; uploads appear with
// their HTTP URL, since catalogs take no file:// sources.
func (s *Server) catalogTOML(w http.ResponseWriter, r *http.Request) {
	base, imgs, ok := s.imagesAt(w, r)
	if !ok {
		return
	}
	c := catalog.Catalog{Version: catalog.Version, Images: []catalog.Image{}}
	for _, i := range imgs {
		c.Images = append(c.Images, catalog.Image{Name: i.Name, Src: s.imageURL(base, i), SHA256: i.SHA256, Format: i.Format, SizeBytes: i.SizeBytes, Arch: i.Arch})
	}
	out, err := c.Encode()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/toml")
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	w.Write(out)
}

func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	var e struct {
		Name   string `json:"name"`
		Src    string `json:"src"`
		SHA256 string `json:"sha256"`
		Format string `json:"format"`
	}
	if !decodeJSON(w, r, 16<<10, &e) {
		return
	}
	ref, err := s.registerImage(r, e.Name, e.Src, e.SHA256, e.Format)
	if err != nil {
		writeOpError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"ref": ref})
}

// registerImage adds a remote image to the catalog and returns its ref.
func (s *Server) registerImage(r *http.Request, name, src, sum, format string) (string, error) {
	img, err := catalog.NewImage(name, src, sum, format)
	if err != nil {
		return "", fail(http.StatusUnprocessableEntity, "%v", err)
	}
	rec := state.Image{Ref: img.Ref(), Name: img.Name, Src: img.Src, Format: img.Format, SHA256: img.SHA256}
	if err := s.store.PutImage(r.Context(), rec, "admin"); err != nil {
		if errors.Is(err, state.ErrExists) {
			return "", fail(http.StatusConflict, "%v: the name or the source is already registered", err)
		}
		return "", err
	}
	return rec.Ref, nil
}
