package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/config"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/testenv"
)

// Two bty-web replicas on one PostgreSQL server (a real one, the test's
// own) and one shared state dir: a session from one is good on the other;
// a machine's boot decision, arming and flash progress are the same
// through either; one replica stops during the flash and the machine's
// reports go on through the other, nothing lost.
func TestReplicas(t *testing.T) {
	a, b := replicas(t)
	for _, e := range []*env{a, b} {
		e.expect(200, "GET", "/machines", nil)
	}

	var up api.Uploaded
	json.Unmarshal(a.expect(200, "PUT", "/images/shared.img", strings.NewReader("image bytes")), &up)
	b.expect(200, "PUT", "/machines/"+addr, jsonBody(provision.Settings{BootMode: "bty-flash-always", ImageRef: up.Ref, TargetDiskSerial: "BTYTEST"}))
	if got := a.boot(addr); got != "flash" {
		t.Fatalf("through A the machine boots %s", got)
	}
	if plan := b.plan(addr); !strings.Contains(plan, `"mode":"flash"`) {
		t.Errorf("through B the plan is %s", plan)
	}
	a.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: "progress", Stage: "write", Done: 3, Total: 10, Fraction: 0.3, Elapsed: 1}))
	var m provision.Machine
	json.Unmarshal(b.expect(200, "GET", "/machines/"+addr, nil), &m)
	if !m.Armed || m.Flash.State != provision.FlashRunning || m.Flash.Fraction != 0.3 {
		t.Fatalf("B sees %+v, flash %+v", m, m.Flash)
	}

	// A goes away mid-flash; the flasher's next reports reach B.
	a.ts.Close()
	a.srv.Close()
	b.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: "progress", Stage: "write", Done: 8, Total: 10, Fraction: 0.8, Elapsed: 2}))
	b.expect(204, "POST", "/pxe/"+addr+"/status", jsonBody(provision.Status{Status: "done", SHA256: up.SHA256}))
	json.Unmarshal(b.expect(200, "GET", "/machines/"+addr, nil), &m)
	if !m.Flashed || m.Flash.State != provision.FlashVerified || m.Flash.Done != 10 {
		t.Errorf("after the flash through B: %+v, flash %+v", m, m.Flash)
	}
	var ev []struct{ Kind string }
	json.Unmarshal(b.expect(200, "GET", "/events?limit=10000", nil), &ev)
	var kinds []string
	for _, e := range ev {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{"image.added", "machine.saved", "pxe.offer", "flash.armed", "flash.done"} {
		if !strings.Contains(strings.Join(kinds, " "), k) {
			t.Errorf("no %s in the shared log: %v", k, kinds)
		}
	}
	if got := b.boot(addr); got != "local" {
		t.Errorf("after its flash the machine boots %s through B", got)
	}
}

// Sessions are the replicas' shared state: a logout on one ends the
// session on the other, and a session made on either is good on both
// (issue 31: the old cookie stayed valid on the other replica, and its new
// sessions failed on the first).
func TestReplicasShareSessions(t *testing.T) {
	a, b := replicas(t)
	b.expect(200, "GET", "/machines", nil)
	u, _ := url.Parse(a.ts.URL)
	old := a.client.Jar.Cookies(u)
	a.expect(204, "POST", "/ui/logout", nil)
	a.client.Jar.SetCookies(u, old) // a client that kept its cookie
	b.expect(401, "GET", "/machines", nil)
	a.expect(401, "GET", "/machines", nil)
	b.login()
	a.expect(200, "GET", "/machines", nil)
	b.expect(200, "GET", "/machines", nil)
}

// replicas starts two bty-web replicas on one PostgreSQL server (a real
// one, the test's own) and one state dir, logged in through the first
// with one cookie jar for both (the signing secret is shared state).
func replicas(t *testing.T) (a, b *env) {
	pg := testenv.Postgres(t)
	dir := t.TempDir()
	shared := func(c *config.Config) { c.State.URL = pg }
	a, b = startWith(t, dir, shared), startWith(t, dir, shared)
	a.login()
	b.client.Jar = a.client.Jar
	b.tokens = a.tokens // one machine, whichever replica it reaches
	return a, b
}
