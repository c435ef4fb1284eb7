package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// defaultPorts are dropped from canonical sources so that
// "https://h:443/a.img" and "https://h/a.img" are the same image.
var defaultPorts = map[string]string{"http": "80", "https": "443", "oras": "443"}

// orasPath is "/repository:tag" or "/repository@sha256:digest". A tag or a
// digest is required: an implicit "latest" would make the catalog entry
// point at different bytes over time.
var orasPath = regexp.MustCompile(`^/[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})$`)

// CanonicalSrc validates an image source URL and returns its canonical
// spelling: scheme and host in lower case, default port dropped, path and
// query kept byte for byte. Only http, https and oras sources are accepted.
func CanonicalSrc(src string) (string, error) {
	for _, r := range src {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("src %q: contains white space or control characters", src)
		}
	}
	u, err := url.Parse(src)
	if err != nil {
		return "", fmt.Errorf("src %q: not a URL: %w", src, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "http", "https", "oras":
	case "file":
		return "", fmt.Errorf("src %q: file:// sources are not allowed in a catalog; upload the image to bty-web (PUT /images/NAME) or serve it over http(s)", src)
	case "":
		return "", fmt.Errorf("src %q: missing scheme; want http://, https:// or oras://", src)
	default:
		return "", fmt.Errorf("src %q: unsupported scheme %q; want http://, https:// or oras://", src, u.Scheme)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("src %q: want %s://HOST/PATH", src, scheme)
	}
	if u.User != nil {
		// Credentials would be stored in the catalog and shown to anyone who
		// can read it; sources must carry none.
		return "", fmt.Errorf("src: must not contain credentials (user:password@); pass registry or server credentials through the environment instead")
	}
	if u.Fragment != "" || strings.Contains(src, "#") {
		return "", fmt.Errorf("src %q: must not contain a #fragment", src)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("src %q: missing host", src)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("src %q: port %q out of range 1-65535", src, port)
		}
		if port != defaultPorts[scheme] {
			host += ":" + strconv.Itoa(n)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("src %q: empty port", src)
	}

	p := u.EscapedPath()
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("src %q: path must not contain . or .. segments", src)
		}
	}
	canonical := scheme + "://" + host + p
	if scheme == "oras" {
		if u.RawQuery != "" || u.ForceQuery {
			return "", fmt.Errorf("src %q: oras:// references take no query", src)
		}
		if !orasPath.MatchString(u.Path) {
			return "", fmt.Errorf("src %q: want oras://REGISTRY/REPOSITORY:TAG or oras://REGISTRY/REPOSITORY@sha256:DIGEST (lower-case repository)", src)
		}
		return canonical, nil
	}
	if p == "" || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("src %q: must name a file, not a directory", src)
	}
	if u.RawQuery != "" {
		canonical += "?" + u.RawQuery
	}
	return canonical, nil
}

// Ref is the identifier bty-web gives an image: the lower-case hex sha256 of
// its canonical source.
func Ref(canonicalSrc string) string {
	sum := sha256.Sum256([]byte(canonicalSrc))
	return hex.EncodeToString(sum[:])
}

// srcFileName is the last path element of a canonical http(s) source, the
// name a format is derived from; oras references have none.
func srcFileName(canonical string) string {
	if strings.HasPrefix(canonical, "oras://") {
		return ""
	}
	u, err := url.Parse(canonical)
	if err != nil {
		return ""
	}
	return path.Base(u.Path)
}
