package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

var rep = `{"tests":[{"label":"//a:a_test","passed":true,"seconds":1,"exit_code":0}],"artifacts":[{"name":"a.iso","size":3,"sha256":"` + a + `"},{"name":"b.whl","size":4,"sha256":"` + b + `"}]}`

var (
	a = strings.Repeat("a", 64)
	b = strings.Repeat("b", 64)
)

var in = Inputs{Repository: "owner/repo", Version: "1.2.3", Commit: strings.Repeat("c", 40), BazelVersion: "7.7.1", Builder: "local"}

func statement(t *testing.T) []byte {
	st, err := New([]byte(rep), in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := st.JSONL()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNew(t *testing.T) {
	out := statement(t)
	if bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte("\n")) {
		t.Errorf("not one JSON line: %q", out)
	}
	if !bytes.Equal(out, statement(t)) {
		t.Error("two statements of one report differ")
	}
	var st Statement
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType || len(st.Subject) != 2 || st.Subject[0].Name != "a.iso" || st.Subject[0].Digest["sha256"] != a {
		t.Errorf("statement: %s", out)
	}
	bd := st.Predicate.BuildDefinition
	if bd.ResolvedDependencies[0].Digest["gitCommit"] != in.Commit || bd.InternalParameters["bazelVersion"] != "7.7.1" || st.Predicate.RunDetails.Builder.ID != "local" || bd.ExternalParameters["version"] != "1.2.3" {
		t.Errorf("predicate: %s", out)
	}
	attached, _ := base64.StdEncoding.DecodeString(st.Predicate.RunDetails.Byproducts[0].Content)
	if string(attached) != rep {
		t.Errorf("the attached report is not the report: %s", attached)
	}
	if err := Check(out, []byte(rep)); err != nil {
		t.Errorf("Check refuses the statement of its own report: %v", err)
	}
}

// A provenance that disagrees with the report in any way is refused,
// naming how.
func TestCheckRefuses(t *testing.T) {
	good := string(statement(t))
	otherReport := strings.Replace(rep, `"seconds":1`, `"seconds":2`, 1)
	for name, tc := range map[string]struct{ statement, report, want string }{
		"another digest":       {strings.Replace(good, a, strings.Repeat("d", 64), 1), rep, "subject a.iso has sha256 dddd"},
		"a subject missing":    {good, strings.Replace(rep, `"name":"a.iso"`, `"name":"c.iso"`, 1), "the report pins c.iso, which is no subject"},
		"an extra subject":     {good, strings.Replace(rep, `,{"name":"b.whl","size":4,"sha256":"`+b+`"}`, "", 1), "subject b.whl is not in the report"},
		"another report":       {good, otherReport, "does not carry this verification report"},
		"not a statement":      {`{"_type":"x"}`, rep, "not an in-toto statement"},
		"a failed test report": {good, strings.Replace(rep, `"passed":true`, `"passed":false`, 1), "did not pass"},
	} {
		err := Check([]byte(tc.statement), []byte(tc.report))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if _, err := New([]byte(`{"tests":[{"label":"x","passed":true}],"artifacts":[]}`), in); err == nil {
		t.Error("a report without artifacts gave a statement")
	}
}
