// Package redfishsim is a stand-in Redfish BMC for tests, for want of a
// real one here: see BMC.
package redfishsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// BMC is a Redfish service of one computer system, written from
// DMTF's Redfish specification (DSP0266: the service root, the session
// service, the ComputerSystem resource with its Boot object and its
// #ComputerSystem.Reset action), for want of a real BMC here. It keeps
// what reached the machine, a change a line.
type BMC struct {
	User, Password string
	mu             sync.Mutex
	on             bool
	token          string
	log            []string
}

func (b *BMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	odata := func(id string) map[string]string { return map[string]string{"@odata.id": id} }
	const sys = "/redfish/v1/Systems/1"
	switch {
	case r.URL.Path == "/redfish/v1/" || r.URL.Path == "/redfish/v1":
		reply(200, map[string]any{"@odata.id": "/redfish/v1/", "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot", "Id": "RootService",
			"RedfishVersion": "1.17.0", "Systems": odata("/redfish/v1/Systems"), "SessionService": odata("/redfish/v1/SessionService"),
			"Links": map[string]any{"Sessions": odata("/redfish/v1/SessionService/Sessions")}})
		return
	case r.URL.Path == "/redfish/v1/SessionService/Sessions" && r.Method == http.MethodPost:
		var cred struct{ UserName, Password string }
		json.NewDecoder(r.Body).Decode(&cred)
		if cred.UserName != b.User || cred.Password != b.Password {
			reply(401, map[string]any{"error": map[string]string{"code": "Base.1.8.NoValidSession", "message": "bad credentials"}})
			return
		}
		b.token = fmt.Sprintf("token-%d", time.Now().UnixNano())
		w.Header().Set("X-Auth-Token", b.token)
		w.Header().Set("Location", "/redfish/v1/SessionService/Sessions/1")
		reply(201, map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions/1", "Id": "1", "UserName": cred.UserName})
		return
	}
	if b.token == "" || r.Header.Get("X-Auth-Token") != b.token {
		reply(401, map[string]any{"error": map[string]string{"code": "Base.1.8.NoValidSession", "message": "no session"}})
		return
	}
	switch {
	case r.URL.Path == "/redfish/v1/SessionService/Sessions/1" && r.Method == http.MethodDelete:
		b.token = ""
		w.WriteHeader(204)
	case r.URL.Path == "/redfish/v1/Systems":
		reply(200, map[string]any{"@odata.id": "/redfish/v1/Systems", "Members@odata.count": 1, "Members": []any{odata(sys)}})
	case r.URL.Path == sys && r.Method == http.MethodGet:
		state := map[bool]string{true: "On", false: "Off"}[b.on]
		reply(200, map[string]any{"@odata.id": sys, "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem", "Id": "1", "PowerState": state,
			"Boot": map[string]any{"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None",
				"BootSourceOverrideTarget@Redfish.AllowableValues": []string{"None", "Pxe", "Hdd"}},
			"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{"target": sys + "/Actions/ComputerSystem.Reset",
				"ResetType@Redfish.AllowableValues": []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"}}}})
	case r.URL.Path == sys && r.Method == http.MethodPatch:
		var body struct{ Boot map[string]string }
		json.NewDecoder(r.Body).Decode(&body)
		b.log = append(b.log, fmt.Sprintf("boot %s %s %s", body.Boot["BootSourceOverrideTarget"], body.Boot["BootSourceOverrideEnabled"], body.Boot["BootSourceOverrideMode"]))
		w.WriteHeader(204)
	case r.URL.Path == sys+"/Actions/ComputerSystem.Reset" && r.Method == http.MethodPost:
		var body struct{ ResetType string }
		json.NewDecoder(r.Body).Decode(&body)
		switch body.ResetType {
		case "On":
			b.on = true
		case "ForceOff", "GracefulShutdown":
			b.on = false
		case "PowerCycle", "ForceRestart":
			b.on = true
		default:
			reply(400, map[string]any{"error": map[string]string{"code": "Base.1.8.ActionParameterNotSupported", "message": body.ResetType}})
			return
		}
		b.log = append(b.log, "reset "+body.ResetType)
		w.WriteHeader(204)
	default:
		reply(404, map[string]any{"error": map[string]string{"code": "Base.1.8.ResourceMissingAtURI", "message": r.URL.Path}})
	}
}

// SessionOpen reports whether a session is open.
func (b *BMC) SessionOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token != ""
}

// Changes is what reached the machine, a change a line.
func (b *BMC) Changes() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.log, "\n")
}
