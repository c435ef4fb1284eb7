// Package webclient talks to a running bty-web as its two kinds of users
// do: the operator (a session cookie, the JSON API) and a machine (the
// open PXE routes, as iPXE and bty auto use them). The web UI's browser
// test and the guide's screenshots drive a real bty-web with it.
package webclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
)

// Operator is a logged-in operator.
type Operator struct {
	Base   string
	Client *http.Client
}

// Login logs in with password.
func Login(base, password string) (*Operator, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/ui/login", url.Values{"password": {password}})
	if err != nil {
		return nil, fmt.Errorf("logging in to %s: %w", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("logging in to %s: %s", base, resp.Status)
	}
	return &Operator{Base: base, Client: c}, nil
}

// do sends a request and decodes a JSON answer into out (if not nil); any
// status but want is an error with the server's message.
func do(c *http.Client, method, u string, body io.Reader, want int, out any) error {
	return doAs(c, "", method, u, body, want, out)
}

// doAs is do with a live boot's token ("" for none).
func doAs(c *http.Client, token, method, u string, body io.Reader, want int, out any) error {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	if body != nil && method != http.MethodPut {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s %s", method, u, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// PutBoot uploads a boot file.
func (o *Operator) PutBoot(name string, data []byte) error {
	return do(o.Client, http.MethodPut, o.Base+"/boot/"+name, bytes.NewReader(data), http.StatusOK, nil)
}

// PutImage uploads an image.
func (o *Operator) PutImage(name string, data []byte) (api.Uploaded, error) {
	var up api.Uploaded
	err := do(o.Client, http.MethodPut, o.Base+"/images/"+name, bytes.NewReader(data), http.StatusOK, &up)
	return up, err
}

// AddEntry registers a remote image and returns its ref.
func (o *Operator) AddEntry(name, src, sum string) (string, error) {
	var out api.Registered
	err := do(o.Client, http.MethodPost, o.Base+"/catalog/entries", jsonBody(api.CatalogEntry{Name: name, Src: src, SHA256: sum}), http.StatusCreated, &out)
	return out.Ref, err
}

// Save replaces a machine's settings.
func (o *Operator) Save(mac string, mode provision.Mode, ref, serial string, labels map[string]string) error {
	if labels == nil {
		labels = map[string]string{}
	}
	body := provision.Settings{BootMode: mode, ImageRef: ref, TargetDiskSerial: serial, Labels: labels}
	return do(o.Client, http.MethodPut, o.Base+"/machines/"+mac, jsonBody(body), http.StatusOK, nil)
}

// Machine returns a machine as the API shows it.
func (o *Operator) Machine(mac string) (provision.Machine, error) {
	var m provision.Machine
	err := do(o.Client, http.MethodGet, o.Base+"/machines/"+mac, nil, http.StatusOK, &m)
	return m, err
}

// PutLiveStandIns uploads stand-ins of the live trio for arch, named as
// the release names it for the server's version: with them bty-web offers
// live boots, whose tokens a machine's reports need. The files hold their
// own names; nothing boots them.
func (o *Operator) PutLiveStandIns(arch string) error {
	var v api.Version
	if err := do(o.Client, http.MethodGet, o.Base+"/version", nil, http.StatusOK, &v); err != nil {
		return err
	}
	nb, err := pxescript.NetbootFor(v.Version, arch)
	if err != nil {
		return err
	}
	for _, name := range nb.Files() {
		if err := o.PutBoot(name, []byte(name)); err != nil {
			return err
		}
	}
	return nil
}

// Machine is a simulated machine: what its iPXE and its live environment
// ask of bty-web.
type Machine struct {
	Base   string
	MAC    string
	Client *http.Client
	// Token is the live boot's token from the last live script Boot got
	// (bty.token=), which the live environment's requests carry.
	Token string
}

// NewMachine returns the machine mac of the server at base.
func NewMachine(base, mac string) *Machine {
	return &Machine{Base: base, MAC: mac, Client: http.DefaultClient}
}

// Boot asks for the per-MAC script as iPXE's bootstrap chain does (x86_64
// UEFI) and returns it.
func (m *Machine) Boot() (string, error) {
	resp, err := m.Client.Get(m.Base + "/pxe/" + m.MAC + "?arch=x86_64&platform=efi")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /pxe/%s: %s %s", m.MAC, resp.Status, b)
	}
	if t := ScriptToken(string(b)); t != "" {
		m.Token = t
	}
	return string(b), nil
}

// ScriptToken is the live boot's token a boot script hands the live
// environment on the kernel's command line ("" for none).
func ScriptToken(script string) string {
	for _, f := range strings.Fields(script) {
		if t, ok := strings.CutPrefix(f, "bty.token="); ok {
			return t
		}
	}
	return ""
}

// Plan is what the live environment is told to do.
func (m *Machine) Plan() (provision.Plan, error) {
	var p provision.Plan
	err := doAs(m.Client, m.Token, http.MethodGet, m.Base+"/pxe/"+m.MAC+"/plan", nil, http.StatusOK, &p)
	return p, err
}

// FetchLive fetches every file a live boot script names (the kernel and
// the initrd), as iPXE does. The files are
// fetched from Base, whatever host the script names: a server with a
// public URL elsewhere is still reached only where the caller said.
func (m *Machine) FetchLive(script string) error {
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "kernel" && f[0] != "initrd") {
			continue
		}
		u, err := url.Parse(f[1])
		if err != nil {
			return fmt.Errorf("%s %s: %w", f[0], f[1], err)
		}
		resp, err := m.Client.Get(m.Base + u.RequestURI())
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s", f[0], f[1], resp.Status)
		}
	}
	return nil
}

// Inventory reports the machine's disks.
func (m *Machine) Inventory(disks ...provision.InventoryDisk) error {
	return doAs(m.Client, m.Token, http.MethodPost, m.Base+"/pxe/"+m.MAC+"/inventory", jsonBody(provision.Inventory{Disks: disks}), http.StatusNoContent, nil)
}

// Report sends a flasher's status report.
func (m *Machine) Report(st provision.Status) error {
	return doAs(m.Client, m.Token, http.MethodPost, m.Base+"/pxe/"+m.MAC+"/status", jsonBody(st), http.StatusNoContent, nil)
}

// Seed is the machine's cloud-init seed, as its flasher asks for it.
func (m *Machine) Seed() (api.Seed, error) {
	var s api.Seed
	err := doAs(m.Client, m.Token, http.MethodGet, m.Base+"/pxe/"+m.MAC+"/cloud-init", nil, http.StatusOK, &s)
	return s, err
}

// PhoneHome posts what cloud-init's phone_home module posts once the
// installed system is up: the form its user-data asks for, to the URL in
// it (reached at Base, whatever host the URL names).
func (m *Machine) PhoneHome(s api.Seed, hostname string) error {
	var ud struct {
		PhoneHome struct{ URL string } `yaml:"phone_home"`
	}
	var meta map[string]string
	if err := yaml.Unmarshal([]byte(s.UserData), &ud); err != nil {
		return err
	}
	if err := yaml.Unmarshal([]byte(s.MetaData), &meta); err != nil {
		return err
	}
	u, err := url.Parse(ud.PhoneHome.URL)
	if err != nil || u.Path == "" {
		return fmt.Errorf("the seed's phone_home url %q: %v", ud.PhoneHome.URL, err)
	}
	form := url.Values{"instance_id": {meta["instance-id"]}, "hostname": {hostname}, "fqdn": {hostname},
		"pub_key_rsa": {"N/A"}, "pub_key_ecdsa": {"N/A"}, "pub_key_ed25519": {"N/A"}}
	resp, err := m.Client.Post(m.Base+u.RequestURI(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("phone-home: %s %s", resp.Status, b)
	}
	return nil
}
