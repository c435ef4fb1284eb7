package provision

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BMC is how bty-web reaches a machine's baseboard management controller.
// The password is write-only: only its sealed form is kept (Sealed, never
// in an answer), encrypted with a key the operator keeps outside the
// database (docs/design.md, "BMC credentials").
type BMC struct {
	Protocol string `json:"protocol,omitempty"` // ipmi or redfish
	Address  string `json:"address,omitempty"`  // host or host:port
	User     string `json:"user,omitempty"`
	Sealed   string `json:"-"`
	// Power is the power state the BMC last reported (nil: never asked),
	// and when.
	Power   *bool     `json:"-"`
	PowerAt time.Time `json:"-"`
}

// Powered records what the BMC said of the power at t.
func (b BMC) Powered(on bool, t time.Time) BMC {
	b.Power, b.PowerAt = &on, t
	return b
}

// HasPassword reports whether a password is set.
func (b BMC) HasPassword() bool { return b.Sealed != "" }

// MarshalJSON shows a BMC as answers do: whether a password is set, never
// the password or its sealed form.
func (b BMC) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Protocol    string    `json:"protocol,omitempty"`
		Address     string    `json:"address,omitempty"`
		User        string    `json:"user,omitempty"`
		PasswordSet bool      `json:"password_set"`
		PowerOn     *bool     `json:"power_on,omitempty"`
		PowerAt     time.Time `json:"power_at,omitzero"`
	}{b.Protocol, b.Address, b.User, b.HasPassword(), b.Power, b.PowerAt})
}

// The BMC protocols.
const (
	BMCIPMI    = "ipmi"    // IPMI v2.0 over LAN (lanplus), UDP 623
	BMCRedfish = "redfish" // DMTF Redfish over HTTPS
)

var bmcUser = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// CheckBMC checks a BMC's settings and its password (as given).
func CheckBMC(b BMC, password string) error {
	switch b.Protocol {
	case BMCIPMI:
		// IPMI v2.0 passwords are at most 20 bytes (its RAKP keys).
		if len(password) > 20 {
			return errors.New("an IPMI password is at most 20 bytes (IPMI v2.0)")
		}
	case BMCRedfish:
		if len(password) > 256 {
			return errors.New("password longer than 256 bytes")
		}
	default:
		return fmt.Errorf("protocol %q: want ipmi or redfish", b.Protocol)
	}
	host, port, err := net.SplitHostPort(b.Address)
	if err != nil {
		host, port = b.Address, ""
	}
	if host == "" || strings.ContainsAny(host, "/ \t\r\n@?#") || len(host) > 253 {
		return fmt.Errorf("address %q: want the BMC's host name or IP address, optionally :port", b.Address)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("address %q: port out of range 1-65535", b.Address)
		}
	}
	if !bmcUser.MatchString(b.User) {
		return fmt.Errorf("user %q: want 1-64 letters, digits or . _ @ -", b.User)
	}
	return nil
}

// KeySize is the BMC key's size: AES-256.
const KeySize = 32

// sealPrefix names the sealing, so another can follow.
const sealPrefix = "aes256gcm:"

// Seal encrypts a BMC password for machine addr with key: AES-256-GCM, a
// random nonce, the machine's MAC as associated data (a sealed password
// copied to another machine's row does not open).
func Seal(key []byte, addr string, password string) (string, error) {
	aead, err := gcm(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealPrefix + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(password), []byte(addr))), nil
}

// ErrBMCKey is a sealed password the key does not open: another key, or a
// password sealed for another machine.
var ErrBMCKey = errors.New("the BMC password does not open with this bmc.key_file (another key, or copied from another machine); set the password again")

// Open decrypts a password Seal made for addr.
func Open(key []byte, addr, sealed string) (string, error) {
	aead, err := gcm(key)
	if err != nil {
		return "", err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if !strings.HasPrefix(sealed, sealPrefix) || err != nil || len(raw) < aead.NonceSize() {
		return "", ErrBMCKey
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(addr))
	if err != nil {
		return "", ErrBMCKey
	}
	return string(plain), nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("the BMC key is %d bytes; want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
