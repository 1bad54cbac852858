package pricing

import (
	"fmt"
	"regexp"
	"strings"
)

// matcher tests a lowercased model name.
type matcher func(name string) bool

// compileMatch compiles a genai-prices match rule (equals / starts_with / ends_with /
// contains / regex, combined with or / and) into a predicate over lowercased names.
// path names the rule in its file for errors.
func compileMatch(rule any, path string) (matcher, error) {
	obj, ok := rule.(map[string]any)
	if !ok || len(obj) != 1 {
		return nil, bad(path, rule, "a match rule with one key (equals, starts_with, ends_with, contains, regex, or, and)")
	}
	for key, value := range obj {
		switch key {
		case "or", "and":
			list, ok := value.([]any)
			if !ok {
				return nil, bad(path+"."+key, value, "an array of match rules")
			}
			parts := make([]matcher, len(list))
			for i, r := range list {
				m, err := compileMatch(r, fmt.Sprintf("%s.%s[%d]", path, key, i))
				if err != nil {
					return nil, err
				}
				parts[i] = m
			}
			if key == "or" {
				return func(name string) bool {
					for _, p := range parts {
						if p(name) {
							return true
						}
					}
					return false
				}, nil
			}
			return func(name string) bool {
				for _, p := range parts {
					if !p(name) {
						return false
					}
				}
				return true
			}, nil
		case "equals", "starts_with", "ends_with", "contains", "regex":
			s, ok := value.(string)
			if !ok {
				return nil, bad(path+"."+key, value, "a string")
			}
			return compileString(key, s, path+"."+key)
		default:
			return nil, bad(path, obj, fmt.Sprintf("a match rule; %q is not one of equals, starts_with, ends_with, contains, regex, or, and", key))
		}
	}
	panic("unreachable")
}

func compileString(kind, s, path string) (matcher, error) {
	lower := strings.ToLower(s)
	switch kind {
	case "equals":
		return func(name string) bool { return name == lower }, nil
	case "starts_with":
		return func(name string) bool { return strings.HasPrefix(name, lower) }, nil
	case "ends_with":
		return func(name string) bool { return strings.HasSuffix(name, lower) }, nil
	case "contains":
		return func(name string) bool { return strings.Contains(name, lower) }, nil
	}
	return compileRegex(s, path)
}

// compileRegex compiles an upstream (JavaScript-flavoured) regex, case-insensitively as
// the TypeScript side does. Go's RE2 has no lookahead; the one form the data uses, a
// leading negative lookahead `^(?!X)Y`, is rewritten to "not ^X and ^Y", which is the
// same language. Any other construct RE2 lacks is an error naming the rule.
func compileRegex(src, path string) (matcher, error) {
	if strings.HasPrefix(src, "^(?!") {
		end := closingParen(src, 1)
		if end < 0 {
			return nil, bad(path, src, "a regex with balanced parentheses")
		}
		rest := src[end+1:]
		if hasTopLevelBar(rest) {
			return nil, bad(path, src, "no top-level | after a leading (?!...) (the collector's regex engine has no lookahead)")
		}
		neg, err := regexp.Compile("(?i)^(?:" + src[4:end] + ")")
		if err != nil {
			return nil, bad(path, src, fmt.Sprintf("a regex the collector can run (%v)", err))
		}
		pos, err := regexp.Compile("(?i)^(?:" + rest + ")")
		if err != nil {
			return nil, bad(path, src, fmt.Sprintf("a regex the collector can run (%v)", err))
		}
		return func(name string) bool { return !neg.MatchString(name) && pos.MatchString(name) }, nil
	}
	re, err := regexp.Compile("(?i)" + src)
	if err != nil {
		return nil, bad(path, src, fmt.Sprintf("a regex the collector can run (%v)", err))
	}
	return re.MatchString, nil
}

// closingParen returns the index of the parenthesis closing the one at open, honouring
// escapes and character classes; -1 when unbalanced.
func closingParen(s string, open int) int {
	depth := 0
	inClass := false
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func hasTopLevelBar(s string) bool {
	depth := 0
	inClass := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			return true
		}
	}
	return false
}

// compileGlob compiles an override `match` glob (`*` = any run of characters).
func compileGlob(glob string) matcher {
	lower := strings.ToLower(glob)
	if !strings.Contains(lower, "*") {
		return func(name string) bool { return name == lower }
	}
	parts := strings.Split(lower, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	return re.MatchString
}

func bad(path string, v any, expected string) error {
	return &ConfigError{Source: path, Value: v, Expected: expected}
}
