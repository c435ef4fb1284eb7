// Package highlight colours the guide's code blocks: shell commands,
// TOML, JSON and configuration snippets. It knows comments, strings,
// section headers and keys, and the command word of a shell line: what a
// reader needs to tell the parts of a snippet apart, no more. The HTML and
// the PDF guide colour from the same tokens.
package highlight

import "strings"

// Kind is what a token is.
type Kind int

// The kinds of token.
const (
	Plain Kind = iota
	Comment
	String
	Keyword // a shell line's command, a TOML section
	Name    // a TOML or JSON key
)

// Token is a piece of one line.
type Token struct {
	Kind Kind
	Text string
}

// Line splits one line of code in language lang (the fenced block's info
// string: sh, toml, json, or anything else) into tokens whose texts join to
// the line.
func Line(lang, line string) []Token {
	var toks []Token
	emit := func(k Kind, s string) {
		if s == "" {
			return
		}
		if n := len(toks); n > 0 && toks[n-1].Kind == k {
			toks[n-1].Text += s
			return
		}
		toks = append(toks, Token{k, s})
	}
	trimmed := strings.TrimLeft(line, " \t")
	indent := line[:len(line)-len(trimmed)]
	switch {
	case lang == "toml" && strings.HasPrefix(trimmed, "["):
		emit(Plain, indent)
		end := strings.IndexByte(trimmed, ']')
		if end < 0 {
			end = len(trimmed) - 1
		}
		emit(Keyword, trimmed[:end+1])
		rest(emit, lang, trimmed[end+1:])
		return toks
	case lang == "toml":
		if eq := strings.IndexByte(trimmed, '='); eq > 0 && !strings.ContainsAny(trimmed[:eq], `"'#`) {
			emit(Plain, indent)
			emit(Name, trimmed[:eq])
			rest(emit, lang, trimmed[eq:])
			return toks
		}
	case lang == "sh" && trimmed != "" && trimmed[0] != '#':
		emit(Plain, indent)
		end := strings.IndexAny(trimmed, " \t")
		if end < 0 {
			end = len(trimmed)
		}
		emit(Keyword, trimmed[:end])
		rest(emit, lang, trimmed[end:])
		return toks
	}
	rest(emit, lang, line)
	return toks
}

// rest tokenizes the part of a line after any leading structure.
func rest(emit func(Kind, string), lang, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '#' && lang != "json" && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			emit(Comment, s[i:])
			return
		case c == '"' || (c == '\'' && lang != "json"):
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				emit(String, s[i:])
				return
			}
			str := s[i : i+end+2]
			kind := String
			if lang == "json" && strings.HasPrefix(strings.TrimLeft(s[i+end+2:], " "), ":") {
				kind = Name
			}
			emit(kind, str)
			i += end + 2
		default:
			emit(Plain, s[i:i+1])
			i++
		}
	}
}
