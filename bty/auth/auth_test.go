package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := New("hunter2", []byte("secret"))
	a.Now = func() time.Time { return now }
	tok, exp, err := a.Issue()
	if err != nil {
		t.Fatal(err)
	}
	if exp != now.Add(12*time.Hour) {
		t.Errorf("expiry %v", exp)
	}
	if err := a.Verify(tok); err != nil {
		t.Errorf("fresh token: %v", err)
	}
	if strings.Contains(tok, "hunter2") {
		t.Error("token contains the password")
	}
	for name, bad := range map[string]string{
		"empty":          "",
		"garbage":        "abc",
		"flipped sig":    tok[:len(tok)-2] + "AA",
		"later expiry":   "9" + tok,
		"other password": mustIssue(t, New("other", []byte("secret"))),
		"other secret":   mustIssue(t, New("hunter2", []byte("other"))),
	} {
		if err := a.Verify(bad); err == nil {
			t.Errorf("%s token accepted", name)
		}
	}
	now = now.Add(12 * time.Hour)
	if err := a.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token: %v", err)
	}
}

func mustIssue(t *testing.T, a *Authenticator) string {
	tok, _, err := a.Issue()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPassword(t *testing.T) {
	a := New("hunter2", nil)
	if !a.CheckPassword("hunter2") || a.CheckPassword("hunter3") || a.CheckPassword("") || a.CheckPassword("hunter22") {
		t.Error("CheckPassword wrong")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(3, time.Minute)
	l.Now = func() time.Time { return now }
	for range 3 {
		if ok, _ := l.Reserve("10.0.0.1"); !ok {
			t.Fatal("blocked too early")
		}
	}
	ok, wait := l.Reserve("10.0.0.1")
	if ok || wait != time.Minute {
		t.Errorf("after 3 failures: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Reserve("10.0.0.2"); !ok {
		t.Error("another address blocked")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Reserve("10.0.0.1"); !ok {
		t.Error("still blocked after the window")
	}
	// A success gives its reservation back: logins never lock out.
	for range 10 {
		if ok, _ := l.Reserve("10.0.0.3"); !ok {
			t.Fatal("successful logins were counted as failures")
		}
		l.Release("10.0.0.3")
	}
}

// A form's CSRF token belongs to one session: another session's, an empty
// or a changed one is refused, and it is not a session token itself.
func TestCSRF(t *testing.T) {
	a := New("pw", []byte("secret"))
	s1, _, _ := a.Issue()
	s2, _, _ := a.Issue()
	tok := a.CSRF(s1)
	if !a.CheckCSRF(s1, tok) {
		t.Fatal("the session's own token refused")
	}
	// The last character changed: to a different one whatever it was (a
	// fixed replacement is no change when the token already ends in it).
	last := "A"
	if strings.HasSuffix(tok, last) {
		last = "B"
	}
	changed := tok[:len(tok)-1] + last
	if changed == tok {
		t.Fatal("the mutation did not change the token")
	}
	for _, bad := range []struct{ session, token string }{{s2, tok}, {s1, ""}, {s1, changed}, {s1, s1}} {
		if a.CheckCSRF(bad.session, bad.token) {
			t.Errorf("CheckCSRF(%q, %q) accepted", bad.session, bad.token)
		}
	}
	if a.Verify(tok) == nil {
		t.Error("a CSRF token verifies as a session")
	}
	if New("pw", []byte("other")).CheckCSRF(s1, tok) {
		t.Error("a token survived a new secret (logout)")
	}
}
