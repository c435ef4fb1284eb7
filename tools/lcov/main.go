// Command lcov merges LCOV coverage reports. It stands in for Bazel's
// coverage tools (the @remote_coverage_tools repository, which Bazel
// downloads from its own mirror and which is out of reach offline) in both
// of their roles:
//
//   - after each test, as the "lcov_merger": every *.dat file that the test
//     wrote into --coverage_dir (rules_go writes LCOV there) is merged into
//     --output_file;
//   - at the end of `bazel coverage`, as the "coverage_report_generator":
//     every report listed in --reports_file is merged into --output_file,
//     the combined _coverage_report.dat.
//
// With -summary FILE it prints the line coverage of each Go package in an
// LCOV report and the total, for reading the combined report:
//
//	tools/bazel coverage //...
//	tools/bazel run //tools/lcov -- -summary bazel-out/_coverage/_coverage_report.dat
//
// Merging sums the hit count of each line (DA records) per source file (SF)
// and recomputes the line totals (LH, LF); records are sorted by file, so
// the output is deterministic. Function and branch records are not kept:
// rules_go emits none for Go.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bty-lab/bty/internal/flags"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lcov:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("lcov", flag.ContinueOnError)
	coverageDir := fs.String("coverage_dir", "", "merge every *.dat file in this directory")
	reportsFile := fs.String("reports_file", "", "merge every report listed in this file, one path a line")
	output := fs.String("output_file", "", "where the merged LCOV report goes")
	var filters flags.Strings
	fs.Var(&filters, "filter_sources", "leave out source files matching this regular expression (repeatable)")
	// Accepted for compatibility with Bazel's tools; the Go reports need
	// neither.
	fs.String("source_file_manifest", "", "ignored")
	fs.String("sources_to_replace_file", "", "ignored")
	summary := fs.String("summary", "", "print the line coverage per package of this LCOV report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *summary != "" {
		return printSummary(os.Stdout, *summary)
	}
	if *output == "" {
		return errors.New("--output_file is required")
	}
	var inputs []string
	if *coverageDir != "" {
		found, err := filepath.Glob(filepath.Join(*coverageDir, "*.dat"))
		if err != nil {
			return err
		}
		inputs = append(inputs, found...)
	}
	if *reportsFile != "" {
		b, err := os.ReadFile(*reportsFile)
		if err != nil {
			return fmt.Errorf("reading the list of reports: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				inputs = append(inputs, line)
			}
		}
	}
	var res []*regexp.Regexp
	for _, f := range filters {
		re, err := regexp.Compile(f)
		if err != nil {
			return fmt.Errorf("--filter_sources=%q: %w", f, err)
		}
		res = append(res, re)
	}
	report := Report{}
	for _, in := range inputs {
		if filepath.Clean(in) == filepath.Clean(*output) {
			continue // the (empty) output Bazel created up front
		}
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		err = report.Add(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
	}
	for file := range report {
		for _, re := range res {
			if re.MatchString(file) {
				delete(report, file)
			}
		}
	}
	out, err := os.Create(*output)
	if err != nil {
		return err
	}
	if err := report.Write(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Report is merged coverage: hits per line per source file.
type Report map[string]map[int]int64

// Add merges the LCOV records read from r.
func (rep Report) Add(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines map[int]int64
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(text, ":")
		switch key {
		case "SF":
			if rep[val] == nil {
				rep[val] = map[int]int64{}
			}
			lines = rep[val]
		case "DA":
			if lines == nil {
				return fmt.Errorf("line %d: DA outside a source file record", n)
			}
			parts := strings.Split(val, ",")
			if len(parts) < 2 {
				return fmt.Errorf("line %d: malformed %q", n, text)
			}
			line, err1 := strconv.Atoi(parts[0])
			hits, err2 := strconv.ParseInt(parts[1], 10, 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("line %d: malformed %q", n, text)
			}
			lines[line] += hits
		case "end_of_record":
			lines = nil
		}
	}
	return sc.Err()
}

// Write writes the report as LCOV, files and lines in order.
func (rep Report) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	files := make([]string, 0, len(rep))
	for f := range rep {
		files = append(files, f)
	}
	slices.Sort(files)
	for _, f := range files {
		lines := rep[f]
		nums := make([]int, 0, len(lines))
		for l := range lines {
			nums = append(nums, l)
		}
		slices.Sort(nums)
		hit := 0
		fmt.Fprintf(bw, "SF:%s\n", f)
		for _, l := range nums {
			fmt.Fprintf(bw, "DA:%d,%d\n", l, lines[l])
			if lines[l] > 0 {
				hit++
			}
		}
		fmt.Fprintf(bw, "LH:%d\nLF:%d\nend_of_record\n", hit, len(nums))
	}
	return bw.Flush()
}

// printSummary prints the line coverage per directory (a Go package) of the
// report in path, then the total.
func printSummary(w io.Writer, path string) error {
	if dir := os.Getenv("BUILD_WORKSPACE_DIRECTORY"); dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path) // under bazel run, relative to the workspace
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w (run tools/bazel coverage first)", err)
	}
	defer f.Close()
	rep := Report{}
	if err := rep.Add(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	pkgs := map[string]Report{}
	for file, lines := range rep {
		dir := filepath.Dir(file)
		if pkgs[dir] == nil {
			pkgs[dir] = Report{}
		}
		pkgs[dir][file] = lines
	}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		found, hit := pkgs[n].Lines()
		fmt.Fprintf(w, "%6.1f%%  %5d/%-5d  %s\n", percent(hit, found), hit, found, n)
	}
	found, hit := rep.Lines()
	fmt.Fprintf(w, "%6.1f%%  %5d/%-5d  total (%d files)\n", percent(hit, found), hit, found, len(rep))
	return nil
}

func percent(hit, found int) float64 {
	if found == 0 {
		return 0
	}
	return 100 * float64(hit) / float64(found)
}

// Lines returns the lines found and hit across the report.
func (rep Report) Lines() (found, hit int) {
	for _, lines := range rep {
		for _, n := range lines {
			found++
			if n > 0 {
				hit++
			}
		}
	}
	return found, hit
}
