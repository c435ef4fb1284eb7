package lab

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/cloudinit"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

const (
	templatesKey = "cloudinit.templates"
	deployKey    = "deploy.secret"
)

var errNoSetting = errors.New("no such setting")

// Templates returns the saved cloud-init templates.
func (l *Lab) Templates(ctx context.Context) (api.Templates, error) {
	t := api.Templates{Images: map[string]api.ImageTemplate{}}
	b, err := l.store.Setting(ctx, templatesKey, func() ([]byte, error) { return nil, errNoSetting })
	if errors.Is(err, errNoSetting) {
		return t, nil
	}
	if err != nil {
		return t, Errorf(Internal, "reading the templates: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, Errorf(Internal, "the stored templates: %w", err)
	}
	if t.Images == nil {
		t.Images = map[string]api.ImageTemplate{}
	}
	return t, nil
}

// SaveTemplates checks and replaces the templates: every template must
// render (cloudinit.CheckTemplate) and every image must exist; nothing is
// saved otherwise.
func (l *Lab) SaveTemplates(ctx context.Context, t api.Templates, actor string) error {
	if t.UserData != "" {
		if err := cloudinit.CheckTemplate(t.UserData); err != nil {
			return Errorf(Invalid, "%v", err)
		}
	}
	for name, it := range t.Images {
		if _, err := l.store.ImageByName(ctx, name); err != nil {
			return Errorf(Invalid, "image %q: no such image (GET /images)", name)
		}
		if it.UserData != "" {
			if err := cloudinit.CheckTemplate(it.UserData); err != nil {
				return Errorf(Invalid, "image %q: %v", name, err)
			}
		}
	}
	b, _ := json.Marshal(t)
	if err := l.store.SetSetting(ctx, templatesKey, b); err != nil {
		return Errorf(Internal, "saving the templates: %w", err)
	}
	l.store.Log(ctx, state.EventTemplatesSaved, "", actor, map[string]int{"images": len(t.Images)})
	return nil
}

// phoneHomeToken is the token of a deployment's phone-home URL: an HMAC
// of the machine and its instance-id under a secret only bty-web keeps,
// so the URL is the same each time the seed is rendered and proves the
// deployment it names.
func (l *Lab) phoneHomeToken(ctx context.Context, addr mac.Addr, instanceID string) (string, error) {
	secret, err := l.store.Setting(ctx, deployKey, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return "", Errorf(Internal, "reading the deployment secret: %w", err)
	}
	h := hmac.New(sha256.New, secret)
	fmt.Fprintf(h, "phone-home\x00%s\x00%s", addr, instanceID)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Seed is what the flasher writes to a machine's CIDATA partition, asked
// for by its live boot (token): the NoCloud files of the deployment under
// way, or ok false when the machine or its image opted out.
func (l *Lab) Seed(ctx context.Context, addr mac.Addr, token string, snap *Snapshot) (files cloudinit.Files, ok bool, err error) {
	m, err := l.Machine(ctx, addr)
	if err != nil {
		return files, false, err
	}
	if err := m.Check(token); err != nil {
		return files, false, Errorf(Forbidden, "%s: %v", addr, err)
	}
	if m.Deployment.InstanceID == "" {
		return files, false, Errorf(Conflict, "%s: no deployment under way (its flash has not reported yet)", addr)
	}
	img, found := snap.Lookup(m.ImageRef)
	if !found {
		return files, false, Errorf(Conflict, "%s: image ref %s is unknown", addr, m.ImageRef)
	}
	t, err := l.Templates(ctx)
	if err != nil {
		return files, false, err
	}
	it, custom := t.Images[img.Name]
	if !m.CloudInit || (custom && !it.CloudInit) {
		return files, false, nil
	}
	tmpl := cmp.Or(it.UserData, t.UserData, cloudinit.DefaultUserData)
	tok, err := l.phoneHomeToken(ctx, addr, m.Deployment.InstanceID)
	if err != nil {
		return files, false, err
	}
	facts := cloudinit.Facts{Hostname: Hostname(m), MAC: addr.String(), Labels: m.Labels, Image: img.Name, InstanceID: m.Deployment.InstanceID}
	var inv provision.Inventory
	if json.Unmarshal(m.Inventory, &inv) == nil {
		for _, d := range inv.Disks {
			if d.Serial != "" {
				facts.Serials = append(facts.Serials, d.Serial)
			}
		}
	}
	phone := snap.Base + "/pxe/" + addr.String() + "/deployed?token=" + url.QueryEscape(tok)
	files, err = cloudinit.Render(tmpl, facts, m.NetworkConfig, phone)
	if err != nil {
		return files, false, Errorf(Conflict, "%s: %v; fix the template (PUT /templates)", addr, err)
	}
	return files, true, nil
}

// Hostname is the machine's host name: its label "hostname", else
// bty-<its MAC without colons>.
func Hostname(m provision.Machine) string {
	if h := m.Labels["hostname"]; h != "" {
		return h
	}
	return "bty-" + strings.ReplaceAll(m.MAC.String(), ":", "")
}

// PhoneHome is the installed system's phone-home (cloud-init's phone_home
// module: a form with instance_id, hostname and the SSH host keys): with
// the token of the machine's current deployment it marks the machine
// deployed; anything else changes nothing and is recorded as refused.
func (l *Lab) PhoneHome(ctx context.Context, addr mac.Addr, token string, form url.Values, remote string) error {
	instance := form.Get("instance_id")
	want, err := l.phoneHomeToken(ctx, addr, instance)
	if err != nil {
		return err
	}
	var keys []string
	for _, k := range []string{"pub_key_rsa", "pub_key_ecdsa", "pub_key_ed25519"} {
		if fp := fingerprint(form.Get(k)); fp != "" {
			keys = append(keys, fp)
		}
	}
	hostname := form.Get("hostname")
	if len(hostname) > 255 {
		hostname = hostname[:255]
	}
	var refused error
	var took string
	_, err = l.store.Update(ctx, addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, state.ErrNotFound
		}
		if !hmac.Equal([]byte(token), []byte(want)) {
			refused = errors.New("the phone-home's token is not this deployment's")
		} else if next, err := m.PhoneHome(instance, hostname, keys, l.store.Now()); err != nil {
			refused = err
		} else {
			took = next.Deployment.DeployedAt.Sub(next.Deployment.Started).Round(100 * time.Millisecond).String()
			return state.Change{Machine: &next, Kind: state.EventDeployed,
				Detail: map[string]any{"instance_id": instance, "hostname": hostname, "host_keys": keys, "took": took, "remote": remote}}, nil
		}
		return state.Change{Kind: state.EventPhoneHomeRefused, Detail: map[string]string{"instance_id": instance, "reason": refused.Error(), "remote": remote}}, nil
	})
	switch {
	case errors.Is(err, state.ErrNotFound):
		return Errorf(NotFound, "unknown machine %s", addr)
	case err != nil:
		return Errorf(Internal, "recording %s's phone-home: %w", addr, err)
	case refused != nil:
		l.log.Warn("phone-home refused", "mac", addr, "remote", remote, "reason", refused)
		return Errorf(Forbidden, "%s: %v", addr, refused)
	}
	l.log.Info("deployed", "mac", addr, "hostname", hostname, "took", took)
	return nil
}

// fingerprint is an OpenSSH public key's SHA256 fingerprint, as
// ssh-keygen -l prints it ("" for what is not a key line).
func fingerprint(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(blob)
	return f[0] + " SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// Sweep fails every deployment whose phone-home is overdue, each with its
// event; bty-web runs it every few seconds.
func (l *Lab) Sweep(ctx context.Context) error {
	ms, err := l.store.Machines(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !m.Overdue(l.store.Now()) {
			continue
		}
		_, err := l.store.Update(ctx, m.MAC, func(m provision.Machine, exists bool) (state.Change, error) {
			if !exists || !m.Overdue(l.store.Now()) {
				return state.Change{}, nil
			}
			next := m.Expire(l.store.Now())
			return state.Change{Machine: &next, Kind: state.EventDeployFailed, Detail: map[string]string{"reason": next.Deployment.Reason}}, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
