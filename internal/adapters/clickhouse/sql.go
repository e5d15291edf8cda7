package clickhouse

import (
	"fmt"
	"strings"
)

// splitStatements cuts a migration file into statements at every ';' outside string literals,
// quoted identifiers and comments, and drops -- and /* */ comments. Splitting there rather
// than only at a ';' ending a line is the same for well-formed files and does not break on
// a ';' inside a string such as '--;'.
func splitStatements(sql string) ([]string, error) {
	var (
		stmts []string
		cur   strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			end, err := quotedEnd(sql, i)
			if err != nil {
				return nil, err
			}
			cur.WriteString(sql[i:end])
			i = end
		case strings.HasPrefix(sql[i:], "--"):
			// Keep the newline: it may be the only separator between two tokens.
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(sql)
			}
		case strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("unterminated /* comment at line %d", lineOf(sql, i))
			}
			cur.WriteByte(' ')
			i += 2 + j + 2
		case c == ';':
			flush()
			i++
		default:
			cur.WriteByte(c)
			i++
		}
	}
	flush()
	return stmts, nil
}

// quotedEnd returns the index just past the quoted token starting at s[i]. ClickHouse
// escapes a quote inside quotes with a backslash or by doubling it.
func quotedEnd(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c quote at line %d", q, lineOf(s, i))
}

func lineOf(s string, i int) int { return strings.Count(s[:i], "\n") + 1 }

// topLevelWords returns the upper-cased words of a statement outside quotes, comments and
// parentheses, stopping after limit words.
func topLevelWords(stmt string, limit int) []string {
	var (
		words []string
		depth int
	)
	for i := 0; i < len(stmt) && len(words) < limit; {
		c := stmt[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			end, err := quotedEnd(stmt, i)
			if err != nil {
				return words
			}
			i = end
		case strings.HasPrefix(stmt[i:], "--"):
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				return words
			}
			i += j
		case strings.HasPrefix(stmt[i:], "/*"):
			j := strings.Index(stmt[i+2:], "*/")
			if j < 0 {
				return words
			}
			i += 2 + j + 2
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case isWordByte(c):
			j := i
			for j < len(stmt) && isWordByte(stmt[j]) {
				j++
			}
			if depth == 0 {
				words = append(words, strings.ToUpper(stmt[i:j]))
			}
			i = j
		default:
			i++
		}
	}
	return words
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isInlineInsert reports whether query is an INSERT whose rows follow in the query text
// (VALUES or FORMAT) rather than coming from a SELECT.
func isInlineInsert(query string) bool {
	words := topLevelWords(query, 64)
	if len(words) == 0 || words[0] != "INSERT" {
		return false
	}
	for _, w := range words[1:] {
		switch w {
		case "VALUES", "FORMAT":
			return true
		case "SELECT", "WITH":
			return false
		}
	}
	return false
}

// abbreviate returns the first line of a statement, cut to a length fit for an error message.
func abbreviate(stmt string) string {
	s := strings.TrimSpace(stmt)
	cut := false
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s, cut = s[:i], true
	}
	if len(s) > 80 {
		s, cut = s[:80], true
	}
	if cut {
		s += " …"
	}
	return s
}
