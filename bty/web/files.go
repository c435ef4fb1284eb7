package web

import (
	"io"
	"net/http"
	"os"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/lab"
)

// serveFile serves dir/name with Range and HEAD support, through os.Root so
// that no name can reach outside dir.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, dir, name string) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		s.fail(w, r, lab.Errorf(lab.Internal, "%v", err))
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		s.fail(w, r, lab.Errorf(lab.NotFound, "no such file %q", name))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		s.fail(w, r, lab.Errorf(lab.NotFound, "no such file %q", name))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

func (s *Server) getBoot(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.lab.BootFile(name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveFile(w, r, s.bootDir, name)
}

// upload is the request's body as a lab.Upload: its read deadline moves
// forward while bytes arrive, so an upload may take hours but never idle.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) lab.Upload {
	return lab.Upload{
		Name:   r.PathValue("name"),
		Body:   &idleReader{r: r.Body, rc: http.NewResponseController(w), idle: s.idle()},
		Size:   r.ContentLength,
		SHA256: r.Header.Get("X-Bty-Sha256"),
	}
}

// idleReader moves the connection's read deadline forward while bytes
// arrive.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.rc.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}

func (s *Server) putBoot(w http.ResponseWriter, r *http.Request) {
	out, err := s.lab.PutBoot(r.Context(), s.upload(w, r), operatorActor)
	s.writeResult(w, r, http.StatusOK, out, err)
}

func (s *Server) putImage(w http.ResponseWriter, r *http.Request) {
	out, err := s.lab.PutImage(r.Context(), s.upload(w, r), operatorActor)
	s.writeResult(w, r, http.StatusOK, out, err)
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := lab.CheckName(name)
	if err == nil {
		err = s.lab.RemoveImage(r.Context(), name, operatorActor)
	}
	s.writeResult(w, r, http.StatusNoContent, nil, err)
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request) {
	dir, name, err := s.lab.ImageFile(r.Context(), r.PathValue("ref"), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveFile(w, r, dir, name)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]api.Image, 0, len(snap.Images))
	for _, i := range snap.Images {
		out = append(out, api.Image{Name: i.Name, Format: i.Format, SizeBytes: i.SizeBytes, SHA256: i.SHA256, Ref: i.Ref, URL: snap.ImageURL(i)})
	}
	writeJSON(w, http.StatusOK, out)
}

// catalogTOML serves every image as a catalog.toml.
func (s *Server) catalogTOML(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := snap.Catalog()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/toml")
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	w.Write(out)
}

func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	var e api.CatalogEntry
	if err := decodeJSON(w, r, 16<<10, &e); err != nil {
		s.fail(w, r, err)
		return
	}
	ref, err := s.lab.RegisterImage(r.Context(), e, operatorActor)
	s.writeResult(w, r, http.StatusCreated, api.Registered{Ref: ref}, err)
}
