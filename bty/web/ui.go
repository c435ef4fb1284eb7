package web

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/auth"
	"github.com/bty-lab/bty/bty/cloudinit"
	"github.com/bty-lab/bty/bty/dhcpconf"
	"github.com/bty-lab/bty/bty/lab"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

// The web UI (docs/design.md, "Web UI") is server-rendered: every page
// reads without JavaScript, and each action is a form whose handler calls
// the same operation as the JSON API (saveMachine, removeImage,
// registerImage), so the API and the UI apply one set of rules.

//go:embed ui
var uiFiles embed.FS

// pages holds one template set per page: the layout, the shared parts and
// the page. They are parsed once, at start-up, from the embedded files.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "machines", "machine", "confirm", "images", "setup", "templates", "error"} {
		out[name] = template.Must(template.New(name).Option("missingkey=error").
			ParseFS(uiFiles, "ui/layout.html", "ui/parts.html", "ui/"+name+".html"))
	}
	return out
}()

// layout is what every page shows around its content (ui/layout.html).
// Each page has a view type of its own that embeds it.
type layout struct {
	Title           string
	Nav             []navItem
	CSRF            string // the session's form token; "" when logged out
	Version         string
	DefaultPassword bool
	Error, Notice   string
}

func (l *layout) frame() *layout { return l }

// view is any page's view: its layout and its own fields.
type view interface{ frame() *layout }

type loginPage struct{ layout }

type errorPage struct{ layout }

type machinesPage struct {
	layout
	EventsAfter int64 // the newest event when the page was made
	Machines    []machineView
	Images      []option // for the rack action
}

type machinePage struct {
	layout
	EventsAfter int64
	Machine     *machineView
	Events      []eventView
	Modes       []option
	Images      []option
	Protocols   []option
}

// powerActions are the machine page's power buttons.
var powerActions = []option{{Value: lab.PowerStatus, Label: "Power status"}, {Value: lab.PowerOn, Label: "Power on"},
	{Value: lab.PowerOff, Label: "Power off"}, {Value: lab.PowerCycle, Label: "Power cycle"}}

func (machinePage) PowerActions() []option { return powerActions }

type confirmPage struct {
	layout
	Confirm confirmView
}

type imagesPage struct {
	layout
	Base          string // the URL machines reach this server at
	ImageRows     []imageRow
	MaxImageBytes int64
}

type setupPage struct {
	layout
	Base  string
	Setup setupView
}

// templatesPage is the cloud-init templates: the one for every image, and
// each image's opt-out or own template.
type templatesPage struct {
	layout
	UserData, Default string
	Images            []imageTemplateView
}

type imageTemplateView struct {
	Name, ID, UserData string
	CloudInit          bool
}

type navItem struct {
	Href, Label string
	Current     bool
}

type option struct {
	Value, Label, Ref, Name string
	Selected                bool
}

type machineView struct {
	MAC, ID        string // ID: the MAC as an HTML id
	Name, Disks    string
	Arch, Firmware string
	Mode           string
	ImageRef       string
	Serial         string
	Armed          bool   // the next PXE boot flashes
	Next           string // what the next PXE boot does
	CanArm         bool   // a flash-once machine that flashed: saving again arms it
	IsFlashMode    bool
	LastEvent      *eventView
	Flash          flashView
	InventoryDisks []diskView
	// The deployment: the lifecycle word (and why it failed), whether a
	// flash writes the cloud-init seed, and what the system said.
	Lifecycle, LifecycleWhy string
	CloudInit               bool
	NetworkConfig           string
	Deployed                *deployView
	BMC                     provision.BMC
	// Power is what the BMC last said ("on", "off"; "" when never asked),
	// and when.
	Power, PowerAt, PowerISO string
}

type deployView struct {
	Hostname, InstanceID, At, Took string
	HostKeys                       []string
}

type flashView struct {
	State, Stage, Reason string
	Active               bool // booting or flashing: the page follows it
	ShowBar              bool
	Percent              int
	Bytes, Rate, ETA     string
}

type diskView struct{ Path, Size, Model, Serial, Flags string }

type eventView struct{ Kind, Actor, At, ISO, Detail string }

type imageRow struct {
	Name, Format, Size, SHA256, ShortSHA, Src string
	Uploaded                                  bool
}

// confirmView asks before a disk is erased: who ("The next PXE boot of"
// a MAC, or a reimage through a BMC), which disk (a serial, or Disks for
// many), what image; the form posts Hidden back to Action with
// confirm=erase.
type confirmView struct {
	Lead, Who, Serial, Disks, Image, Mode string
	Action, Back, Button                  string
	Hidden                                []hiddenField
}

type hiddenField struct{ Name, Value string }

type setupView struct {
	Host, Dnsmasq, Kea string
	WebURL             string // what bty-tftp's --web-url must be: set when not the default port
}

// render writes page name with status; only a template error (a bug) is
// left, and it is answered as one.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	s.fillLayout(r, v.frame(), "/ui/"+name)
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeHTML(w, status, b.Bytes())
}

// renderPart writes one named fragment of a page (what the pages' script
// fetches to stay current).
func (s *Server) renderPart(w http.ResponseWriter, page, part string, v view) {
	var b bytes.Buffer
	if err := pages[page].ExecuteTemplate(&b, part, v); err != nil {
		http.Error(w, "rendering "+part+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeHTML(w, http.StatusOK, b.Bytes())
}

func writeHTML(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Pages load only this server's own script and style, and no page may
	// be framed by another site.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) fillLayout(r *http.Request, v *layout, path string) {
	v.Version = s.version
	v.DefaultPassword = s.cfg.DefaultPasswordInUse()
	if c, err := r.Cookie(auth.CookieName); err == nil {
		if a := s.authFor(r); a.Verify(c.Value) == nil {
			v.CSRF = a.CSRF(c.Value)
		}
	}
	for _, n := range []navItem{{"/ui/machines", "Machines", false}, {"/ui/images", "Images", false}, {"/ui/templates", "Templates", false}, {"/ui/setup", "Set up DHCP", false}} {
		n.Current = strings.HasPrefix(path, n.Href)
		v.Nav = append(v.Nav, n)
	}
}

// isForm reports whether r carries a form, the body a browser's form (and
// so a cross-site page) can send.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// wantsHTML reports whether the client is a browser showing pages.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func (s *Server) uiHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
}

func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request) {
	if s.loggedIn(r) {
		http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
		return
	}
	v := &loginPage{layout{Title: "Log in"}}
	if r.URL.Query().Has("bye") {
		v.Notice = "Logged out."
	}
	s.render(w, r, http.StatusOK, "login", v)
}

func (s *Server) uiStatic(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(uiFiles, "ui/static")
	w.Header().Set("Cache-Control", "no-cache")
	http.StripPrefix("/ui/static/", http.FileServerFS(sub)).ServeHTTP(w, r)
}

// machineView is how a machine is shown: its next PXE boot is decided by
// the same rules (DecideBoot) the PXE route applies.
func machineViewOf(m provision.Machine, snap *lab.Snapshot, last *eventView) machineView {
	d := m.DecideBoot(snap.Lookup, snap.LiveFor)
	v := machineView{
		MAC: m.MAC.String(), ID: strings.ReplaceAll(m.MAC.String(), ":", "-"),
		Name: m.Labels["name"], Arch: m.Arch, Firmware: m.Firmware, Mode: string(m.BootMode),
		ImageRef: m.ImageRef, Serial: m.TargetDiskSerial, Armed: d.Action == provision.BootFlasher,
		CanArm:      m.BootMode == provision.ModeFlashOnce && m.Flashed,
		IsFlashMode: m.IsFlashMode(), LastEvent: last, Flash: flashOf(m.Flash),
		CloudInit: m.CloudInit, NetworkConfig: m.NetworkConfig, BMC: m.BMC,
	}
	if p := m.BMC.Power; p != nil {
		v.Power = map[bool]string{true: "on", false: "off"}[*p]
		v.PowerAt, v.PowerISO = m.BMC.PowerAt.UTC().Format("2006-01-02 15:04:05 UTC"), m.BMC.PowerAt.UTC().Format(time.RFC3339)
	}
	v.Lifecycle, v.LifecycleWhy = m.Lifecycle()
	if d := m.Deployment; d.State == provision.Deployed {
		v.Deployed = &deployView{Hostname: d.Hostname, InstanceID: d.InstanceID, HostKeys: d.HostKeys,
			At: d.DeployedAt.UTC().Format("2006-01-02 15:04:05 UTC"), Took: d.DeployedAt.Sub(d.Started).Round(time.Second).String()}
	}
	if v.Name == "" {
		v.Name = m.Labels["hostname"]
	}
	switch d.Action {
	case provision.BootFlasher:
		v.Next = fmt.Sprintf("writes %s to the disk with serial %s", d.Image.Name, m.TargetDiskSerial)
	case provision.BootInventory:
		v.Next = "reports its disks (inventory)"
	case provision.BootInteractive:
		v.Next = "starts the live system for the console"
	case provision.BootRefused:
		v.Next = "boots its local disk: " + d.Reason
	default:
		v.Next = "boots its local disk"
	}
	var inv provision.Inventory
	if len(m.Inventory) > 0 && json.Unmarshal(m.Inventory, &inv) == nil {
		var serials []string
		for _, d := range inv.Disks {
			var flags []string
			if d.Removable {
				flags = append(flags, "removable")
			}
			if d.ReadOnly {
				flags = append(flags, "read-only")
			}
			v.InventoryDisks = append(v.InventoryDisks, diskView{d.Path, progress.Bytes(d.Size), d.Model, d.Serial, strings.Join(flags, ", ")})
			serials = append(serials, fmt.Sprintf("%s (%s)", cmp.Or(d.Serial, d.Path), progress.Bytes(d.Size)))
		}
		v.Disks = strings.Join(serials, ", ")
	}
	return v
}

// flashOf shows a flash: its state, and for a running one the percentage,
// bytes, rate and time left from the flasher's last report.
func flashOf(f provision.Flash) flashView {
	v := flashView{State: string(f.State), Stage: f.Stage, Reason: f.Reason,
		Active: f.State == provision.FlashBooting || f.State == provision.FlashRunning}
	if f.State == provision.FlashNone || f.State == provision.FlashBooting {
		return v
	}
	v.ShowBar = true
	v.Percent = int(f.Fraction * 100)
	if f.Done > 0 {
		v.Bytes = progress.Bytes(f.Done)
	}
	if f.Total > 0 {
		v.Bytes += " of " + progress.Bytes(f.Total)
	}
	if rate := f.Rate(); rate > 0 && f.State == provision.FlashRunning {
		v.Rate = progress.Bytes(int64(rate)) + "/s"
	}
	if eta, ok := f.ETA(); ok {
		v.ETA = eta.String()
	}
	return v
}

func eventOf(e state.Event) eventView {
	detail := string(e.Detail)
	if len(detail) > 240 {
		detail = detail[:240] + "…"
	}
	return eventView{Kind: string(e.Kind), Actor: e.Actor, At: e.At.UTC().Format("2006-01-02 15:04:05 UTC"), ISO: e.At.UTC().Format(time.RFC3339), Detail: detail}
}

func (s *Server) uiMachines(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query().Get("mac"); q != "" {
		addr, err := mac.Parse(q)
		if err != nil {
			v, verr := s.machinesPage(r)
			if verr != nil {
				s.fail(w, r, verr)
				return
			}
			v.Error = err.Error()
			s.render(w, r, http.StatusBadRequest, "machines", v)
			return
		}
		http.Redirect(w, r, "/ui/machines/"+addr.String(), http.StatusSeeOther)
		return
	}
	v, err := s.machinesPage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("part") == "rows" {
		s.renderPart(w, "machines", "rows", v)
		return
	}
	if n := r.URL.Query().Get("rack"); n != "" {
		v.Notice = "Reimaging " + n + " machines through their BMCs, a wave at a time: follow their lifecycles below."
	}
	s.render(w, r, http.StatusOK, "machines", v)
}

func (s *Server) machinesPage(r *http.Request) (*machinesPage, error) {
	v := &machinesPage{layout: layout{Title: "Machines"}}
	ms, err := s.store.Machines(r.Context())
	if err != nil {
		return v, lab.Errorf(lab.Internal, "reading the machines: %w", err)
	}
	snap, err := s.snapshot(r)
	if err != nil {
		return v, err
	}
	last, err := s.store.LastEvents(r.Context())
	if err != nil {
		return v, lab.Errorf(lab.Internal, "reading the events: %w", err)
	}
	if v.EventsAfter, err = s.store.LastEventID(r.Context()); err != nil {
		return v, lab.Errorf(lab.Internal, "reading the events: %w", err)
	}
	for _, m := range ms {
		var lv *eventView
		if e, ok := last[m.MAC]; ok {
			ev := eventOf(e)
			lv = &ev
		}
		v.Machines = append(v.Machines, machineViewOf(m, snap, lv))
	}
	for _, img := range snap.Images {
		v.Images = append(v.Images, option{Ref: img.Ref, Name: img.Name})
	}
	return v, nil
}

// machinePage is one machine's page: settings, live state, inventory and
// history. An unknown MAC shows as the new machine saving would create.
func (s *Server) machinePage(r *http.Request, addr mac.Addr) (*machinePage, error) {
	v := &machinePage{layout: layout{Title: "Machine " + addr.String()}}
	m, err := s.lab.Machine(r.Context(), addr)
	if lab.KindOf(err) == lab.NotFound {
		m, err = provision.New(addr), nil
		v.Notice = addr.String() + " is not stored yet: saving its settings adds it."
	}
	if err != nil {
		return v, err
	}
	snap, err := s.snapshot(r)
	if err != nil {
		return v, err
	}
	if v.EventsAfter, err = s.store.LastEventID(r.Context()); err != nil {
		return v, lab.Errorf(lab.Internal, "reading the events: %w", err)
	}
	evs, err := s.store.MachineEvents(r.Context(), addr, 50)
	if err != nil {
		return v, lab.Errorf(lab.Internal, "reading the events: %w", err)
	}
	for _, e := range evs {
		v.Events = append(v.Events, eventOf(e))
	}
	var last *eventView
	if len(v.Events) > 0 {
		last = &v.Events[0]
	}
	mv := machineViewOf(m, snap, last)
	v.Machine = &mv
	for _, mode := range provision.Modes {
		v.Modes = append(v.Modes, option{Value: string(mode), Label: string(mode), Selected: mode == m.BootMode})
	}
	for _, img := range snap.Images {
		v.Images = append(v.Images, option{Ref: img.Ref, Name: img.Name, Selected: img.Ref == m.ImageRef})
	}
	for _, p := range []string{provision.BMCIPMI, provision.BMCRedfish} {
		v.Protocols = append(v.Protocols, option{Value: p, Label: p, Selected: p == m.BMC.Protocol})
	}
	return v, nil
}

func (s *Server) uiMachine(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	v, err := s.machinePage(r, addr)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if part := r.URL.Query().Get("part"); part == "live" || part == "events" {
		s.renderPart(w, "machine", part, v)
		return
	}
	switch q := r.URL.Query(); {
	case q.Has("saved"):
		v.Notice = "Saved."
	case q.Get("power") != "":
		v.Notice = "The machine is powered " + map[string]string{"true": "on", "false": "off"}[q.Get("power")] + ", its BMC says."
	case q.Has("reimaged"):
		v.Notice = "Reimaging: the BMC set a one-time network boot and powered the machine on; follow its lifecycle above."
	}
	s.render(w, r, http.StatusOK, "machine", v)
}

// uiSaveMachine saves the settings form. A flash mode that will erase a
// disk is shown for confirmation first; the confirmed form carries
// confirm=erase. The machine's labels are kept (the form does not edit
// them).
func (s *Server) uiSaveMachine(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	set := provision.Settings{
		BootMode: provision.Mode(r.PostFormValue("boot_mode")), ImageRef: r.PostFormValue("bty_image_ref"),
		TargetDiskSerial: strings.TrimSpace(r.PostFormValue("target_disk_serial")),
	}
	cloudInit := true
	if m, err := s.store.Machine(r.Context(), addr); err == nil {
		set.Labels, cloudInit, set.NetworkConfig = m.Labels, m.CloudInit, m.NetworkConfig
	}
	// The settings form (and its confirmation) carries the deployment's
	// fields; the arm and disarm buttons keep them as they are.
	if r.PostFormValue("deploy_fields") != "" {
		cloudInit = r.PostFormValue("cloud_init") != ""
		set.NetworkConfig = strings.ReplaceAll(r.PostFormValue("network_config"), "\r\n", "\n")
	}
	set.CloudInit = &cloudInit
	if set.BootMode == provision.ModeFlashAlways || set.BootMode == provision.ModeFlashOnce {
		if r.PostFormValue("confirm") != "erase" && set.ImageRef != "" && set.TargetDiskSerial != "" {
			name := set.ImageRef
			if img, err := s.store.ImageByRef(r.Context(), set.ImageRef); err == nil {
				name = img.Name
			}
			hidden := []hiddenField{{"boot_mode", string(set.BootMode)}, {"bty_image_ref", set.ImageRef}, {"target_disk_serial", set.TargetDiskSerial},
				{"deploy_fields", "1"}, {"network_config", set.NetworkConfig}}
			if cloudInit {
				hidden = append(hidden, hiddenField{"cloud_init", "on"})
			}
			s.render(w, r, http.StatusOK, "confirm", &confirmPage{layout{Title: "Erase a disk?"},
				confirmView{Lead: "The next PXE boot of", Who: addr.String(), Serial: set.TargetDiskSerial, Image: name, Mode: string(set.BootMode),
					Action: "/ui/machines/" + addr.String(), Back: "/ui/machines/" + addr.String(), Button: "Erase and flash on the next boot", Hidden: hidden}})
			return
		}
	}
	if _, err := s.lab.SaveMachine(r.Context(), addr, set, operatorActor); err != nil {
		s.uiMachineError(w, r, addr, "Not saved: ", err)
		return
	}
	http.Redirect(w, r, "/ui/machines/"+addr.String()+"?saved", http.StatusSeeOther)
}

func (s *Server) uiDeleteMachine(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	err := s.lab.DeleteMachine(r.Context(), addr, operatorActor)
	if err != nil && lab.KindOf(err) != lab.NotFound {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
}

func (s *Server) imagesPage(r *http.Request) (*imagesPage, error) {
	v := &imagesPage{layout: layout{Title: "Images"}, MaxImageBytes: s.cfg.Limits.MaxImageBytes}
	snap, err := s.snapshot(r)
	if err != nil {
		return v, err
	}
	v.Base = snap.Base
	for _, i := range snap.Images {
		short := i.SHA256
		if len(short) > 12 {
			short = short[:12] + "…"
		}
		size := "?"
		if i.SizeBytes > 0 {
			size = progress.Bytes(i.SizeBytes)
		}
		v.ImageRows = append(v.ImageRows, imageRow{i.Name, string(i.Format), size, i.SHA256, short, i.Src, i.Uploaded})
	}
	return v, nil
}

func (s *Server) uiImages(w http.ResponseWriter, r *http.Request) {
	v, err := s.imagesPage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "images", v)
}

// uiImagesResult shows the images page after an action: on success a
// redirect (so a reload does not repeat it), on failure the page with the
// API's message and status.
func (s *Server) uiImagesResult(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		http.Redirect(w, r, "/ui/images", http.StatusSeeOther)
		return
	}
	v, verr := s.imagesPage(r)
	if verr != nil {
		s.fail(w, r, verr)
		return
	}
	v.Error = err.Error()
	s.render(w, r, statusOf(err), "images", v)
}

func (s *Server) uiDeleteImage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := lab.CheckName(name)
	if err == nil {
		err = s.lab.RemoveImage(r.Context(), name, operatorActor)
	}
	s.uiImagesResult(w, r, err)
}

func (s *Server) uiAddEntry(w http.ResponseWriter, r *http.Request) {
	_, err := s.lab.RegisterImage(r.Context(), api.CatalogEntry{
		Name: strings.TrimSpace(r.PostFormValue("name")), Src: strings.TrimSpace(r.PostFormValue("src")),
		SHA256: strings.TrimSpace(r.PostFormValue("sha256")), Format: strings.TrimSpace(r.PostFormValue("format")),
	}, operatorActor)
	s.uiImagesResult(w, r, err)
}

// uiSetup tells a new operator how to send machines here, with this
// server's own address filled in (the rules of package dhcpconf).
func (s *Server) uiSetup(w http.ResponseWriter, r *http.Request) {
	base, err := s.base(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	srv, err := dhcpconf.FromURL(base)
	if err != nil {
		s.fail(w, r, lab.Errorf(lab.Invalid, "%v", err))
		return
	}
	v := setupView{Host: srv.Host, Dnsmasq: srv.Dnsmasq(), Kea: srv.Kea()}
	if srv.Port != "8080" {
		v.WebURL = "http://" + net.JoinHostPort(srv.Host, srv.Port)
	}
	s.render(w, r, http.StatusOK, "setup", &setupPage{layout{Title: "Set up DHCP"}, base, v})
}

func (s *Server) templatesPage(r *http.Request, t api.Templates) (*templatesPage, error) {
	v := &templatesPage{layout: layout{Title: "Templates"}, UserData: t.UserData, Default: cloudinit.DefaultUserData}
	snap, err := s.snapshot(r)
	if err != nil {
		return v, err
	}
	for i, img := range snap.Images {
		it, ok := t.Images[img.Name]
		v.Images = append(v.Images, imageTemplateView{Name: img.Name, ID: fmt.Sprint(i), UserData: it.UserData, CloudInit: !ok || it.CloudInit})
	}
	return v, nil
}

func (s *Server) uiTemplates(w http.ResponseWriter, r *http.Request) {
	t, err := s.lab.Templates(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.templatesPage(r, t)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Has("saved") {
		v.Notice = "Saved."
	}
	s.render(w, r, http.StatusOK, "templates", v)
}

// uiSaveTemplates saves the templates form through the API's operation:
// an image keeps an entry only when it differs from the default (cloud-init
// on, the global template).
func (s *Server) uiSaveTemplates(w http.ResponseWriter, r *http.Request) {
	t := api.Templates{UserData: strings.ReplaceAll(r.PostFormValue("user_data"), "\r\n", "\n"), Images: map[string]api.ImageTemplate{}}
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, img := range snap.Images {
		it := api.ImageTemplate{CloudInit: r.PostFormValue("cloud_init:"+img.Name) != "",
			UserData: strings.ReplaceAll(r.PostFormValue("user_data:"+img.Name), "\r\n", "\n")}
		if !it.CloudInit || it.UserData != "" {
			t.Images[img.Name] = it
		}
	}
	if err := s.lab.SaveTemplates(r.Context(), t, operatorActor); err != nil {
		v, perr := s.templatesPage(r, t)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		v.Error = "Not saved: " + err.Error()
		s.render(w, r, statusOf(err), "templates", v)
		return
	}
	http.Redirect(w, r, "/ui/templates?saved", http.StatusSeeOther)
}

// uiMachineError shows a machine page with an operation's refusal (its
// status, statusOf's).
func (s *Server) uiMachineError(w http.ResponseWriter, r *http.Request, addr mac.Addr, prefix string, err error) {
	v, perr := s.machinePage(r, addr)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	v.Error = prefix + err.Error()
	s.render(w, r, statusOf(err), "machine", v)
}

// uiSaveBMC saves the BMC form (an empty password keeps the one set).
func (s *Server) uiSaveBMC(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	b := api.BMC{Protocol: r.PostFormValue("protocol"), Address: strings.TrimSpace(r.PostFormValue("address")),
		User: strings.TrimSpace(r.PostFormValue("user")), Password: r.PostFormValue("password")}
	if _, err := s.lab.SaveBMC(r.Context(), addr, b, operatorActor); err != nil {
		s.uiMachineError(w, r, addr, "BMC not saved: ", err)
		return
	}
	http.Redirect(w, r, "/ui/machines/"+addr.String()+"?saved", http.StatusSeeOther)
}

// uiPower is a power button.
func (s *Server) uiPower(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	on, err := s.lab.Power(r.Context(), addr, r.PostFormValue("action"), operatorActor)
	if err != nil {
		s.uiMachineError(w, r, addr, "", err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/machines/%s?power=%v", addr, on), http.StatusSeeOther)
}

// uiReimage reimages the machine once the erase is confirmed.
func (s *Server) uiReimage(w http.ResponseWriter, r *http.Request, addr mac.Addr) {
	req := api.Reimage{ImageRef: r.PostFormValue("bty_image_ref")}
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.PostFormValue("confirm") != "erase" {
		m, err := s.lab.Machine(r.Context(), addr)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		name := req.ImageRef
		if img, ok := snap.Lookup(req.ImageRef); ok {
			name = img.Name
		}
		s.render(w, r, http.StatusOK, "confirm", &confirmPage{layout{Title: "Erase a disk?"}, confirmView{
			Lead: "Reimaging powers on (or cycles) through its BMC, and the network boot of", Who: addr.String(), Serial: m.TargetDiskSerial,
			Image: name, Mode: "one flash", Action: "/ui/machines/" + addr.String() + "/reimage", Back: "/ui/machines/" + addr.String(),
			Button: "Erase and reimage now", Hidden: []hiddenField{{"bty_image_ref", req.ImageRef}}}})
		return
	}
	if _, err := s.lab.Reimage(r.Context(), addr, req, operatorActor, snap); err != nil {
		s.uiMachineError(w, r, addr, "", err)
		return
	}
	http.Redirect(w, r, "/ui/machines/"+addr.String()+"?reimaged", http.StatusSeeOther)
}

// uiReimageRack is the machines page's rack action, confirmed first.
func (s *Server) uiReimageRack(w http.ResponseWriter, r *http.Request) {
	selector, ref := strings.TrimSpace(r.PostFormValue("selector")), r.PostFormValue("bty_image_ref")
	snap, err := s.snapshot(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	plan, err := s.lab.PlanRack(r.Context(), selector, ref, snap)
	if err != nil {
		v, perr := s.machinesPage(r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		v.Error = "Not reimaged: " + err.Error()
		s.render(w, r, statusOf(err), "machines", v)
		return
	}
	if r.PostFormValue("confirm") != "erase" {
		name := ref
		if img, ok := snap.Lookup(ref); ok {
			name = img.Name
		}
		s.render(w, r, http.StatusOK, "confirm", &confirmPage{layout{Title: "Erase disks?"}, confirmView{
			Lead: "Reimaging powers on (or cycles) through their BMCs, four at a time, and the network boots of",
			Who:  fmt.Sprintf("%d machines labelled %s", len(plan.Machines), selector), Disks: "the target disk of each", Image: name,
			Action: "/ui/reimage", Back: "/ui/machines", Button: "Erase and reimage them now",
			Hidden: []hiddenField{{"selector", selector}, {"bty_image_ref", ref}}}})
		return
	}
	s.background(func(ctx context.Context) { s.lab.ReimageRack(ctx, plan, ref, 4, operatorActor, snap) })
	http.Redirect(w, r, fmt.Sprintf("/ui/machines?rack=%d", len(plan.Machines)), http.StatusSeeOther)
}
