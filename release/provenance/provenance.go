// Package provenance is the release's SLSA provenance: one in-toto
// statement (v1) whose subjects are every release artifact with its sha256
// and whose SLSA v1 predicate names the commit, the Bazel version, the
// builder, and carries //:verify's report itself. It is made from the
// report inside the build, so it cannot name a digest the report does not.
package provenance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/bty-lab/bty/release/report"
)

// The in-toto and SLSA identifiers.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://slsa.dev/provenance/v1"
)

// Statement is an in-toto statement with a SLSA v1 provenance predicate.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject is one artifact.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Predicate is SLSA provenance v1.
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was built, from what.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   map[string]string    `json:"externalParameters"`
	InternalParameters   map[string]string    `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// RunDetails says who built it, and carries the verification report.
type RunDetails struct {
	Builder    Builder              `json:"builder"`
	Byproducts []ResourceDescriptor `json:"byproducts"`
}

// Builder identifies the platform that ran the build.
type Builder struct {
	ID string `json:"id"`
}

// ResourceDescriptor is SLSA's reference to a thing, by digest.
type ResourceDescriptor struct {
	Name      string            `json:"name,omitempty"`
	URI       string            `json:"uri,omitempty"`
	Digest    map[string]string `json:"digest"`
	MediaType string            `json:"mediaType,omitempty"`
	Content   string            `json:"content,omitempty"` // base64
}

// Inputs are the facts the statement records besides the report.
type Inputs struct {
	Repository   string // owner/name on GitHub
	Version      string
	Commit       string // the source's git commit
	BazelVersion string
	Builder      string // the builder's id
}

// ReportName is the name of the attached verification report.
const ReportName = "verify-report.json"

// New makes the statement from the report's bytes.
func New(reportJSON []byte, in Inputs) (Statement, error) {
	r, err := report.Parse(reportJSON)
	if err != nil {
		return Statement{}, err
	}
	if len(r.Artifacts) == 0 {
		return Statement{}, fmt.Errorf("the verification report pins no artifacts")
	}
	st := Statement{Type: StatementType, PredicateType: PredicateType}
	for _, a := range r.Artifacts {
		st.Subject = append(st.Subject, Subject{a.Name, map[string]string{"sha256": a.SHA256}})
	}
	repo := "https://github.com/" + in.Repository
	st.Predicate = Predicate{
		BuildDefinition: BuildDefinition{
			BuildType:          repo + "/blob/v" + in.Version + "/docs/design.md#release",
			ExternalParameters: map[string]string{"repository": repo, "version": in.Version, "target": "//:verify"},
			InternalParameters: map[string]string{"bazelVersion": in.BazelVersion},
			ResolvedDependencies: []ResourceDescriptor{{
				URI: "git+" + repo + "@" + in.Commit, Digest: map[string]string{"gitCommit": in.Commit},
			}},
		},
		RunDetails: RunDetails{
			Builder: Builder{ID: in.Builder},
			Byproducts: []ResourceDescriptor{{
				Name: ReportName, Digest: map[string]string{"sha256": report.SHA256(reportJSON)},
				MediaType: "application/json", Content: base64.StdEncoding.EncodeToString(reportJSON),
			}},
		},
	}
	return st, nil
}

// JSONL is the statement as one line of JSON, as .intoto.jsonl files hold.
func (s Statement) JSONL() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Check says how a statement disagrees with a report: a missing, extra or
// different subject, or another report attached. The publisher checks the
// provenance it uploads with it.
func Check(statement, reportJSON []byte) error {
	var st Statement
	if err := json.Unmarshal(statement, &st); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		return fmt.Errorf("provenance: not an in-toto statement of SLSA provenance v1 (%s, %s)", st.Type, st.PredicateType)
	}
	r, err := report.Parse(reportJSON)
	if err != nil {
		return err
	}
	subjects := map[string]string{}
	for _, s := range st.Subject {
		subjects[s.Name] = s.Digest["sha256"]
	}
	for _, a := range r.Artifacts {
		got, ok := subjects[a.Name]
		switch {
		case !ok:
			return fmt.Errorf("provenance: the report pins %s, which is no subject", a.Name)
		case got != a.SHA256:
			return fmt.Errorf("provenance: subject %s has sha256 %s, the report %s", a.Name, got, a.SHA256)
		}
		delete(subjects, a.Name)
	}
	for name := range subjects {
		return fmt.Errorf("provenance: subject %s is not in the report", name)
	}
	bp := st.Predicate.RunDetails.Byproducts
	if len(bp) != 1 || bp[0].Name != ReportName || bp[0].Digest["sha256"] != report.SHA256(reportJSON) {
		return fmt.Errorf("provenance: it does not carry this verification report (sha256 %s)", report.SHA256(reportJSON))
	}
	content, err := base64.StdEncoding.DecodeString(bp[0].Content)
	if err != nil || report.SHA256(content) != report.SHA256(reportJSON) {
		return fmt.Errorf("provenance: the attached report's content is not the report its digest names")
	}
	return nil
}
