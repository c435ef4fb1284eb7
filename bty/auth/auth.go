// Package auth guards bty-web's operator routes: one admin password, a
// signed session cookie, and a per-address limit on failed logins.
//
// The cookie is "<expiry>.<nonce>.<mac>", the MAC an HMAC-SHA256 over
// expiry and nonce with a key derived from a persisted random secret and the
// password, so sessions survive restarts and die when the password changes.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "bty-token"

// Errors of Verify.
var (
	ErrMissing = errors.New("not logged in")
	ErrForged  = errors.New("invalid session token")
	ErrExpired = errors.New("session expired; log in again")
)

// Authenticator checks passwords and issues and verifies session tokens.
type Authenticator struct {
	passwordSum [32]byte
	key         []byte
	TTL         time.Duration
	Now         func() time.Time
}

// NewSecret returns fresh random bytes for New's secret.
func NewSecret() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

// New returns an Authenticator for password, signing with secret.
func New(password string, secret []byte) *Authenticator {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("bty-token key\x00"))
	mac.Write([]byte(password))
	return &Authenticator{
		passwordSum: sha256.Sum256([]byte(password)),
		key:         mac.Sum(nil),
		TTL:         12 * time.Hour,
		Now:         time.Now,
	}
}

// CheckPassword compares in constant time (over fixed-size digests, so the
// length of the password leaks nothing either).
func (a *Authenticator) CheckPassword(p string) bool {
	sum := sha256.Sum256([]byte(p))
	return subtle.ConstantTimeCompare(sum[:], a.passwordSum[:]) == 1
}

// Issue returns a new session token and its expiry.
func (a *Authenticator) Issue() (string, time.Time, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", time.Time{}, err
	}
	exp := a.Now().Add(a.TTL).Truncate(time.Second)
	body := strconv.FormatInt(exp.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(nonce)
	return body + "." + a.sign(body), exp, nil
}

func (a *Authenticator) sign(body string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CSRF returns the anti-forgery token of a session: its MAC under a label
// of its own, so it is bound to that session, dies with it, and cannot be
// turned back into a session token. The web UI puts it into every form;
// CheckCSRF checks what a form sends back.
func (a *Authenticator) CSRF(session string) string {
	return a.sign("csrf\x00" + session)
}

// CheckCSRF reports whether token is the CSRF token of session.
func (a *Authenticator) CheckCSRF(session, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(a.CSRF(session)))
}

// Verify checks a token's signature, then its expiry.
func (a *Authenticator) Verify(token string) error {
	if token == "" {
		return ErrMissing
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return ErrForged
	}
	body, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(a.sign(body))) {
		return ErrForged
	}
	expStr, _, _ := strings.Cut(body, ".")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil {
		return ErrForged
	}
	if !a.Now().Before(time.Unix(exp, 0)) {
		return ErrExpired
	}
	return nil
}

// Limiter allows at most Max failed logins per address within Window.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewLimiter returns a limiter of max failures per window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, Now: time.Now, failures: map[string][]time.Time{}}
}

// Reserve counts a login attempt from addr as failed before its password is
// checked, and reports whether addr may try now (if not, how long until it
// may). Counting first means parallel guesses cannot all pass the check
// before any of them is counted; a successful login calls Release.
func (l *Limiter) Reserve(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	recent := l.prune(addr, now)
	if len(recent) >= l.Max {
		return false, recent[0].Add(l.Window).Sub(now)
	}
	l.record(addr, now)
	return true, 0
}

// Release takes back the reservation of an attempt that succeeded.
func (l *Limiter) Release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.failures[addr]; len(f) > 0 {
		l.failures[addr] = f[:len(f)-1]
	}
}

func (l *Limiter) record(addr string, now time.Time) {
	l.failures[addr] = append(l.prune(addr, now), now)
	// Bound memory under a flood from many addresses.
	if len(l.failures) > 10000 {
		for a := range l.failures {
			if len(l.prune(a, now)) == 0 {
				delete(l.failures, a)
			}
		}
	}
}

func (l *Limiter) prune(addr string, now time.Time) []time.Time {
	f := l.failures[addr]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.Window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.failures, addr)
	} else {
		l.failures[addr] = f
	}
	return f
}

// String describes the limit for messages.
func (l *Limiter) String() string {
	return fmt.Sprintf("%d failed logins per %s", l.Max, l.Window)
}
