// Package cloudinit renders a machine's identity for cloud-init's NoCloud
// datasource: meta-data (an instance-id new for every deployment, the
// hostname), user-data (the operator's template with the machine's facts,
// plus the phone-home that tells bty-web the system came up) and an
// optional network-config (version 2). The flasher writes them to a small
// partition labelled CIDATA at the end of the target disk; docs/design.md,
// "Deployments", says why a partition.
//
// Templates are Go text/template over Facts. A template is checked when it
// is saved, by rendering it with sample facts and parsing the result as
// YAML: an error names the line.
package cloudinit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Facts are what a template may use of the machine and its deployment.
type Facts struct {
	Hostname   string            // the machine's label "hostname", else bty-<mac without colons>
	MAC        string            // e.g. 52:54:00:11:22:33
	Labels     map[string]string // the operator's labels
	Serials    []string          // the serials of the disks its inventory reported
	Image      string            // the image's name
	InstanceID string            // new for every deployment
}

// Sample is the facts a template is checked with when it is saved.
var Sample = Facts{Hostname: "bty-525400112233", MAC: "52:54:00:11:22:33", Labels: map[string]string{"rack": "r1"},
	Serials: []string{"S1"}, Image: "debian.img", InstanceID: "bty-0123456789abcdef"}

// MaxTemplate bounds a template (and a network-config).
const MaxTemplate = 64 << 10

// DefaultUserData is the user-data template when the operator set none:
// the hostname alone.
const DefaultUserData = "#cloud-config\nhostname: {{.Hostname}}\n"

// Files are the NoCloud files of one deployment.
type Files struct {
	MetaData      string `json:"meta_data"`
	UserData      string `json:"user_data"`
	NetworkConfig string `json:"network_config,omitempty"`
}

var hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CheckHostname refuses what is not a host name (RFC 1123 label, lower case).
func CheckHostname(h string) error {
	if !hostnameRE.MatchString(h) {
		return fmt.Errorf("hostname %q: want lower-case letters, digits and '-', at most 63, not starting or ending with '-'", h)
	}
	return nil
}

// CheckTemplate parses a user-data template and renders it with Sample:
// the result must be a #cloud-config YAML mapping.
func CheckTemplate(text string) error {
	_, err := renderUserData(text, Sample)
	return err
}

// CheckNetworkConfig checks a network-config: YAML, a mapping with
// version: 2 (as NoCloud reads it, with or without a top-level network:).
func CheckNetworkConfig(text string) error {
	if len(text) > MaxTemplate {
		return fmt.Errorf("network-config longer than %d bytes", MaxTemplate)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return fmt.Errorf("network-config: %w", err)
	}
	if n, ok := doc["network"].(map[string]any); ok {
		doc = n
	}
	if v, _ := doc["version"].(int); v != 2 {
		return errors.New("network-config: want version: 2 (netplan's format)")
	}
	return nil
}

// Render renders a deployment's files. phoneHome is the URL the system
// posts to when cloud-init has run (phone_home, added to the user-data:
// the template may not set its own).
func Render(userData string, f Facts, networkConfig, phoneHome string) (Files, error) {
	if err := CheckHostname(f.Hostname); err != nil {
		return Files{}, err
	}
	doc, err := renderUserData(userData, f)
	if err != nil {
		return Files{}, err
	}
	doc["phone_home"] = map[string]any{
		"url":   phoneHome,
		"post":  []string{"pub_key_rsa", "pub_key_ecdsa", "pub_key_ed25519", "instance_id", "hostname", "fqdn"},
		"tries": 10,
	}
	ud, err := yaml.Marshal(doc)
	if err != nil {
		return Files{}, err
	}
	meta, _ := yaml.Marshal(map[string]string{"instance-id": f.InstanceID, "local-hostname": f.Hostname})
	return Files{MetaData: string(meta), UserData: "#cloud-config\n" + string(ud), NetworkConfig: networkConfig}, nil
}

// renderUserData executes the template and parses its output: a
// #cloud-config mapping without a phone_home of its own.
func renderUserData(text string, f Facts) (map[string]any, error) {
	if len(text) > MaxTemplate {
		return nil, fmt.Errorf("user-data template longer than %d bytes", MaxTemplate)
	}
	t, err := template.New("user-data").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, templateError(err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, f); err != nil {
		return nil, templateError(err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if strings.TrimSpace(first) != "#cloud-config" {
		return nil, errors.New("user-data template: line 1 must be #cloud-config (bty adds to a cloud-config; scripts and MIME parts are not merged)")
	}
	doc := map[string]any{}
	if err := yaml.Unmarshal(out.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("user-data template, as rendered: %w", err)
	}
	if _, ok := doc["phone_home"]; ok {
		return nil, errors.New("user-data template: phone_home is bty's (it tells bty-web the machine is deployed); remove it")
	}
	return doc, nil
}

// templatePos is where text/template says an error is: "template:
// user-data:LINE:" (and a column or the action after it).
var templatePos = regexp.MustCompile(`^template: user-data:(\d+):(?:\d+:)?\s*`)

// templateError says a template's error as YAML's do: "line N: ...".
func templateError(err error) error {
	msg := err.Error()
	if m := templatePos.FindStringSubmatch(msg); m != nil {
		msg = "line " + m[1] + ": " + msg[len(m[0]):]
	}
	return errors.New("user-data template: " + msg)
}
