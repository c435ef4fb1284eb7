package cloudinit

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// A deployment's files: meta-data with its instance-id and hostname, the
// operator's user-data with the machine's facts and bty's phone_home, the
// network-config as saved.
func TestRender(t *testing.T) {
	tmpl := "#cloud-config\nhostname: {{.Hostname}}\nusers:\n  - name: ops\n    ssh_authorized_keys: [\"ssh-ed25519 AAAA ops\"]\nwrite_files:\n  - path: /etc/bty-rack\n    content: \"{{index .Labels \"rack\"}} {{.Image}} {{range .Serials}}{{.}}{{end}}\"\n"
	net := "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
	f, err := Render(tmpl, Sample, net, "http://10.0.0.1:8080/pxe/52:54:00:11:22:33/deployed?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := yaml.Unmarshal([]byte(f.MetaData), &meta); err != nil || meta["instance-id"] != Sample.InstanceID || meta["local-hostname"] != Sample.Hostname {
		t.Errorf("meta-data %q: %v", f.MetaData, err)
	}
	var ud struct {
		Hostname  string
		PhoneHome struct {
			URL  string
			Post []string
		} `yaml:"phone_home"`
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if !strings.HasPrefix(f.UserData, "#cloud-config\n") {
		t.Errorf("user-data does not start #cloud-config:\n%s", f.UserData)
	}
	if err := yaml.Unmarshal([]byte(f.UserData), &ud); err != nil {
		t.Fatal(err)
	}
	if ud.Hostname != Sample.Hostname || !strings.HasSuffix(ud.PhoneHome.URL, "/deployed?token=abc") || len(ud.PhoneHome.Post) != 6 ||
		len(ud.WriteFiles) != 1 || ud.WriteFiles[0].Content != "r1 debian.img S1" {
		t.Errorf("user-data %+v:\n%s", ud, f.UserData)
	}
	if f.NetworkConfig != net {
		t.Errorf("network-config %q", f.NetworkConfig)
	}
}

// A template is refused, with its line, when it does not parse, uses a
// fact that does not exist, renders to what is not YAML or not a
// cloud-config, or sets bty's phone_home.
func TestCheckTemplate(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"#cloud-config\nhostname: {{.Hostname}\n", "line 2"},
		{"#cloud-config\nhostname: {{.Nickname}}\n", "Nickname"},
		{"#cloud-config\nusers: [\n  - name: ops\n bad\n", "line"},
		{"#!/bin/sh\necho hi\n", "#cloud-config"},
		{"#cloud-config\nphone_home: {url: http://evil}\n", "phone_home"},
		{strings.Repeat("#", MaxTemplate+1), "longer"},
	} {
		err := CheckTemplate(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error naming %q", c.text, err, c.want)
		}
	}
	if err := CheckTemplate(DefaultUserData); err != nil {
		t.Errorf("the default: %v", err)
	}
	for _, bad := range []string{"version: 1\n", "network:\n  version: 3\n", "version: [2\n"} {
		if err := CheckNetworkConfig(bad); err == nil {
			t.Errorf("network-config %q accepted", bad)
		}
	}
	if err := CheckNetworkConfig("network:\n  version: 2\n  ethernets: {}\n"); err != nil {
		t.Error(err)
	}
	for _, h := range []string{"", "Web1", "-a", "a_b", strings.Repeat("a", 64)} {
		if CheckHostname(h) == nil {
			t.Errorf("hostname %q accepted", h)
		}
	}
}
